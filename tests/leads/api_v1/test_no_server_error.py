"""Inputs found from outside that made a 5xx (#23): each is a documented 4xx in the API's own
shape, and writes nothing. The live-server cases (chunked bodies, a lost database connection)
are in ``test_no_server_error_live.py``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.campaignapi import Api, make_api
from tests.factories import TemplateFactory
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db

USED_AT = frozenset({"campaigner_apikey", "campaigner_apitoken"})  # last use is recorded


def refused_400(api: Any, method: str, path: str, body: Any, **extra: Any) -> dict[str, Any]:
    before = database_rows(exclude=USED_AT)
    response = api.call(method, path, body, **extra)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert database_rows(exclude=USED_AT) == before
    return response.json()


@pytest.mark.parametrize(
    ("path", "body", "missing"),
    [
        ("contact-hours", {"windows": [{"days": ["mon"]}]}, ["windows.0.end", "windows.0.start"]),
        ("contact-hours", {"windows": [{"start": "09:00", "end": "10:00"}]}, ["windows.0.days"]),
        ("disposition-sets", {"dispositions": [{"enabled": True}]}, ["dispositions.0.name"]),
        ("templates", {"fields": [{"phone": True}]}, ["fields.0.name"]),
    ],
)
def test_a_patch_whose_nested_item_lacks_a_required_key_is_400_naming_it(
    admin_api: Any, path: str, body: dict[str, Any], missing: list[str]
) -> None:
    template = TemplateFactory()
    ids = {
        "contact-hours": template.contact_hours_id,
        "disposition-sets": template.disposition_set_id,
        "templates": template.pk,
    }
    answer = refused_400(admin_api, "patch", f"{path}/{ids[path]}", body)
    assert sorted(answer["errors"]) == missing
    assert all(answer["errors"][key] == ["This field is required."] for key in missing)


def test_a_patch_of_whole_items_still_works(admin_api: Any) -> None:
    template = TemplateFactory()
    changed = admin_api.patch(
        f"contact-hours/{template.contact_hours_id}",
        {"windows": [{"days": ["mon"], "start": "09:00", "end": "17:00"}]},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["windows"] == [{"days": ["mon"], "start": "09:00", "end": "17:00"}]


def test_an_unknown_key_holding_a_lone_surrogate_is_400_json(admin_api: Any) -> None:
    for path in ("contact-hours/", "disposition-sets/", "templates/", "campaigns/", "dnc/"):
        answer = refused_400(admin_api, "post", path, '{"\\udfff": 1, "name": "x"}')
        assert answer["errors"]["\udfff"] == ["Unknown key."]


TOO_MANY = "&".join(f"p{i}=1" for i in range(1001))


def test_over_a_thousand_parameters_is_a_400_on_every_api(admin_api: Any, client: Client) -> None:
    for path in ("contact-hours/", "leads/", "dnc/"):
        response = admin_api.get(f"{path}?{TOO_MANY}")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["errors"] == {"body": [response.json()["detail"]]}
    refused_400(admin_api, "post", f"dnc/?{TOO_MANY}", {"phone": "0390000001"})
    api = make_api(client)
    before = database_rows(exclude=USED_AT)
    for method in ("insertLeadFast", "getCampaignTemplateList", "updateLeadFast"):
        response = api.post(
            method, {"FirstPhone": "0390000001"}, **{f"p{i}": 1 for i in range(1001)}
        )
        assert (response.status_code, response.json()["code"]) == (400, 150), response.content
    assert database_rows(exclude=USED_AT) == before


def test_an_import_whose_header_holds_nul_is_400(admin_api: Any, client: Client) -> None:
    api: Api = make_api(client)
    form = {
        "file": SimpleUploadedFile("leads.csv", b"FirstPhone,Na\x00me\n0390000001,x\n"),
        "template": api.template.pk,
        "campaign": api.campaign.pk,
        "allocation": api.allocation.pk,
    }
    before = database_rows(exclude=USED_AT)
    response = admin_api.client.post("/api/v1/imports/", form)
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"file": ["a column name holds a NUL character"]}
    assert database_rows(exclude=USED_AT) == before


@pytest.mark.parametrize(
    ("data", "rejected"),
    [
        (b"phone,note\n0399999998,n\nxxxxx\n", [3]),
        (b"phone,expires,note\n0399999998\n0399999997,2030-01-01,ok\n", [2]),
        (b'phone,expires,note\n0399999998,"unclosed\n', [2]),
        (b"phone,note\n0399999998,n\n03999", [3]),  # cut inside a row
    ],
)
def test_a_dnc_file_with_short_or_broken_rows_reports_them(
    admin_api: Any, data: bytes, rejected: list[int]
) -> None:
    response = admin_api.call("post", "dnc/upload", data, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert [r["line"] for r in response.json()["rejected"]] == rejected


@pytest.mark.parametrize("host", ["evil.example", "", "a b"])
def test_health_answers_json_whatever_the_host(client: Client, host: str) -> None:
    response = client.get("/health", HTTP_HOST=host)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    bad = client.get("/api/v1/contact-hours/", HTTP_HOST=host)
    assert (bad.status_code, bad["Content-Type"]) == (400, "application/json")
