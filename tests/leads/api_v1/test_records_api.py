"""API keys, the DNC list (find, add, check, upload), phone patterns, deliveries and the lead
search over /api/v1/."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigner.models import ApiKey, hash_secret
from leads.models import ActionDelivery, DncEntry, PhonePattern
from tests.factories import AllocationFactory, DncEntryFactory, LeadFactory, LeadPhoneFactory
from tests.leads.api_v1.test_configuration_api import refused

pytestmark = pytest.mark.django_db


def test_api_key_shown_once_then_revoked(admin_api: Any) -> None:
    created = admin_api.post("api-keys/", {"name": "crm"})
    assert created.status_code == 201
    body = created.json()
    plain = body.pop("key")
    assert len(plain) >= 32 and body["prefix"] == plain[:8]
    assert ApiKey.objects.get(pk=body["id"]).key_hash == hash_secret(plain)
    assert body == {
        "id": body["id"],
        "name": "crm",
        "team": None,
        "user": None,
        "revoked": False,
        "createdAt": body["createdAt"],
        "lastUsedAt": None,
        "prefix": plain[:8],
    }
    read = admin_api.get(f"api-keys/{body['id']}").json()
    assert read == body and plain not in str(admin_api.get("api-keys/").content)
    assert refused(admin_api, "patch", f"api-keys/{body['id']}", {"key": "mine-" * 8}, 400)[
        "errors"
    ] == {"key": ["Unknown key."]}
    revoked = admin_api.patch(f"api-keys/{body['id']}", {"revoked": True})
    assert revoked.json()["revoked"] is True
    assert refused(admin_api, "post", "api-keys/", {"name": "crm"}, 409)["reason"] == "conflict"
    assert refused(admin_api, "post", "api-keys/", {"name": "x", "team": "Nobody"}, 400)[
        "errors"
    ] == {"team": ["Object with name=Nobody does not exist."]}


def test_dnc_add_normalises_and_a_second_post_updates(admin_api: Any) -> None:
    created = admin_api.post("dnc/", {"phone": "(03) 8321-8100", "note": "asked"})
    assert created.status_code == 201
    body = created.json()
    assert body == {
        "id": body["id"],
        "phone": "+61383218100",  # E.164: how every door compares numbers
        "expires": None,
        "note": "asked",
        "createdAt": body["createdAt"],
    }
    again = admin_api.post("dnc/", {"phone": "03 8321 8100", "expires": "2027-01-01"})
    assert again.status_code == 200
    assert again.json() == {**body, "expires": "2027-01-01", "note": ""}
    assert DncEntry.objects.count() == 1
    found = admin_api.get("dnc/?phone=03-8321-8100").json()
    assert [e["id"] for e in found["results"]] == [body["id"]]
    assert admin_api.get("dnc/?phone=0399999999").json()["count"] == 0
    assert refused(admin_api, "post", "dnc/", {"phone": "call me"}, 400)["errors"] == {
        "phone": ["'call me' is not a usable phone number"]
    }
    changed = admin_api.patch(f"dnc/{body['id']}", {"note": "by letter"})
    assert changed.json()["note"] == "by letter"
    assert admin_api.delete(f"dnc/{body['id']}").status_code == 204
    assert not DncEntry.objects.exists()


def test_dnc_check_in_order_with_one_query_per_chunk(admin_api: Any) -> None:
    DncEntryFactory(number="+61383218100")
    DncEntryFactory(number="+61383218101", expires_on=dt.date(2000, 1, 1))  # expired
    DncEntryFactory(number="+61383218102", expires_on=dt.date(2999, 1, 1))
    phones = ["03 8321 8100", "0383218101", "nonsense", "0383218102"] * 25_000  # 100,000
    with CaptureQueriesContext(connection) as queries:
        response = admin_api.post("dnc/check", {"phones": phones})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 100_000
    assert results[:4] == [
        {"phone": "03 8321 8100", "normalised": "+61383218100", "blocked": True, "expires": None},
        {"phone": "0383218101", "normalised": "+61383218101", "blocked": False, "expires": None},
        {"phone": "nonsense", "normalised": None, "blocked": False, "expires": None},
        {
            "phone": "0383218102",
            "normalised": "+61383218102",
            "blocked": True,
            "expires": "2999-01-01",
        },
    ]
    assert results[4:8] == results[:4]
    checks = [q for q in queries.captured_queries if "leads_dncentry" in q["sql"]]
    assert len(checks) == 1  # three distinct numbers: one chunk
    too_many = refused(admin_api, "post", "dnc/check", {"phones": ["1"] * 100_001}, 400)
    assert too_many["errors"] == {"phones": ["a list of at most 100,000 numbers"]}
    assert refused(admin_api, "post", "dnc/check", {"phones": [5]}, 400)["errors"] == {
        "phones.0": ["each number must be text of at most 64 characters"]
    }


def test_dnc_check_of_many_distinct_numbers_is_chunked(admin_api: Any) -> None:
    phones = [f"04{n:08d}" for n in range(25_000)]
    with CaptureQueriesContext(connection) as queries:
        assert admin_api.post("dnc/check", {"phones": phones}).status_code == 200
    assert len([q for q in queries.captured_queries if "leads_dncentry" in q["sql"]]) == 3


UPLOAD = (
    "\ufeffPhone,expires,note\r\n"
    "03 8321 8100,,asked\r\n"
    '0383218101,2027-01-01,"by letter, twice"\r\n'
    "not a number,,\r\n"
    "0383218102,2027-02-30,\r\n"
    "0383218103,,a,b\r\n"
    "\r\n"
    '0383218199,,"line\nbreak"\r\n'
    "0383218100,,again\r\n"
)


def test_dnc_upload_one_transaction_with_rejected_lines(admin_api: Any) -> None:
    DncEntryFactory(number="+61383218101", note="old")
    response = admin_api.post("dnc/upload", UPLOAD.encode(), content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "added": 2,
        "updated": 1,
        "rejected": [
            {"line": 4, "value": "not a number", "reason": "not a usable phone number"},
            {
                "line": 5,
                "value": "0383218102",
                "reason": "'expires' must be a date YYYY-MM-DD, not '2027-02-30'",
            },
            {"line": 6, "value": "0383218103", "reason": "4 cells where the header has 3"},
        ],
    }
    assert dict(DncEntry.objects.values_list("number", "note")) == {
        "+61383218100": "again",
        "+61383218101": "by letter, twice",
        "+61383218199": "line\nbreak",
    }


def test_dnc_upload_as_multipart_file(admin_api: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("dnc.csv", b"phone\n0383218100\n", content_type="text/csv")
    response = admin_api.client.post("/api/v1/dnc/upload", {"file": upload})
    assert response.json() == {"added": 1, "updated": 0, "rejected": []}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"number,note\n0383218100,x\n", "the file has no 'phone' column in its first line"),
        (b"", "the file has no 'phone' column in its first line"),
        (b'{"phone": "0383218100"}', "the file has no 'phone' column in its first line"),
        (
            b"phone\n\xff\xfe0383218100\n",
            "the file is not UTF-8 text (invalid start byte at byte 6)",
        ),
    ],
)
def test_a_bad_dnc_file_is_400_and_writes_nothing(admin_api: Any, data: bytes, reason: str) -> None:
    before = DncEntry.objects.count()
    response = admin_api.post("dnc/upload", data, content_type="text/csv")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {"file": [reason]}
    assert DncEntry.objects.count() == before


def test_a_nul_in_a_dnc_file_rejects_its_line(admin_api: Any) -> None:
    response = admin_api.post(
        "dnc/upload", b"phone,note\n0383\x00218100,\n0383218101,a\x00\n", content_type="text/csv"
    )
    assert response.json() == {
        "added": 0,
        "updated": 0,
        "rejected": [
            {"line": 2, "value": "0383\x00218100", "reason": "not a usable phone number"},
            {"line": 3, "value": "0383218101", "reason": "'note' holds a NUL character"},
        ],
    }


def test_phone_patterns_apply_to_the_dnc_and_bad_ones_are_400(admin_api: Any) -> None:
    body = refused(
        admin_api,
        "post",
        "phone-patterns/",
        {"name": "bad", "pattern": "(", "replacement": ""},
        400,
    )
    assert list(body["errors"]) == ["pattern"]
    # A local oddity: the PBX's "9" for an outside line, typed before a Melbourne number.
    assert admin_api.post("dnc/", {"phone": "9 8321 8100"}).json()["phone"] == "+61983218100"
    created = admin_api.post(
        "phone-patterns/",
        {"name": "outside line", "pattern": r"^9(\d{8})$", "replacement": r"03\1"},
    )
    assert created.status_code == 201
    assert created.json() == {
        "id": created.json()["id"],
        "name": "outside line",
        "position": 0,
        "pattern": r"^9(\d{8})$",
        "replacement": r"03\1",
        "enabled": True,
    }
    # The rule first, then the numbering plan.
    assert admin_api.post("dnc/", {"phone": "9 8321 8100"}).json()["phone"] == "+61383218100"
    assert refused(
        admin_api, "patch", f"phone-patterns/{created.json()['id']}", {"replacement": r"0\2"}, 400
    )["errors"].keys() == {"pattern"}
    assert PhonePattern.objects.get().replacement == r"03\1"


def test_deliveries_read_filter_and_retry(admin_api: Any) -> None:
    lead = LeadFactory()
    failed = ActionDelivery.objects.create(
        kind="webhook", lead=lead, payload={}, attempts=8, status="failed", last_error="refused"
    )
    ActionDelivery.objects.create(kind="email", lead=lead, payload={}, status="delivered")
    listed = admin_api.get("deliveries/?status=failed").json()
    assert [d["id"] for d in listed["results"]] == [failed.pk]
    assert listed["results"][0] == {
        "id": failed.pk,
        "lead": lead.pk,
        "kind": "webhook",
        "status": "failed",
        "attempts": 8,
        "lastHttpStatus": None,
        "lastError": "refused",
        "nextAttemptAt": None,
        "deliveredAt": None,
        "createdAt": listed["results"][0]["createdAt"],
    }
    assert admin_api.delete(f"deliveries/{failed.pk}").status_code == 405
    assert admin_api.post(f"deliveries/{failed.pk}/retry").status_code == 200
    assert ActionDelivery.objects.get(pk=failed.pk).status in {"retrying", "failed"}


def test_lead_search_by_normalised_phone_and_filters(admin_api: Any) -> None:
    allocation = AllocationFactory()
    ann = LeadFactory(allocation=allocation, fields={"Name": "Ann"}, external_id="crm-1")
    LeadPhoneFactory(lead=ann, number="+61383218100")
    bob = LeadFactory(allocation=allocation, fields={"Name": "Bob"}, closed=True)
    LeadPhoneFactory(lead=bob, number="+61383218101")
    found = admin_api.get("leads/?phone=(03) 8321 8100").json()
    assert found["count"] == 1
    lead = found["results"][0]
    assert lead == {
        "id": ann.pk,
        "campaign": allocation.campaign_id,
        "allocation": allocation.pk,
        "externalId": "crm-1",
        "fields": {"Name": "Ann"},
        "phones": [{"field": "FirstPhone", "number": "+61383218100", "blocked": False}],
        "priority": 10,
        "callbackDate": None,
        "contactHours": None,
        "disposition": None,
        "closed": False,
        "version": 1,
        "checkedOutBy": None,  # never checked out: null, like checkedOutUntil
        "checkedOutUntil": None,
        "dialAttempts": 0,
        "origin": None,  # made by the factory, not through an insert door
        "createdAt": lead["createdAt"],
        "updatedAt": lead["updatedAt"],
    }
    assert [r["id"] for r in admin_api.get("leads/?closed=true").json()["results"]] == [bob.pk]
    assert admin_api.get("leads/?externalId=crm-1").json()["count"] == 1
    assert admin_api.get("leads/?disposition=none").json()["count"] == 2
    assert admin_api.get("leads/?phone=nonsense").json()["count"] == 0
    assert (
        admin_api.get(f"leads/?campaign={allocation.campaign_id}&ordering=-id").json()["results"][
            0
        ]["id"]
        == bob.pk
    )
    bad = admin_api.get("leads/?createdAfter=yesterday")
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["createdAfter"]
    assert admin_api.post("leads/", {}).status_code == 405
