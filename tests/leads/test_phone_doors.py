"""One line, however a vendor spells it, is one number at every door (campaignapi.md §4.2):
the DNC list (its API, upload, check and the admin), the duplicate check (single, batch,
import), updates, the admin's lead search, and the dialer's DNC action."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from campaigner.models import Disposition, DispositionAction
from dialer.services import dialer_cache_refresh, dialer_lead_next, dialer_outcome
from leads.models import DncEntry, Lead, LeadImport
from leads.services.lead_import import lead_import_run
from tests.campaignapi import Api, make_api
from tests.dialer.conftest import always_open

pytestmark = pytest.mark.django_db(transaction=True)  # the write calls run outside one

LINE = ["(03) 9381 2222", "03-9381-2222", "+61 3 9381 2222", "+61393812222", "61393812222",
        "+61 (0)3 9381 2222", "0393812222", "٠٣٩٣٨١٢٢٢٢"]  # fmt: skip
MOBILE = ["0412 345 678", "+61 412 345 678", "61412345678", "+61 (0)412 345 678"]


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


@pytest.fixture
def admin(db: Any) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    staff = Client()
    staff.force_login(user)
    return staff


def codes(api: Api, numbers: list[str], **params: Any) -> list[int]:
    body = api.post("insertLeadsFast", [{"FirstPhone": n} for n in numbers], **params).json()
    return [result["code"] for result in body["results"]]


@pytest.mark.parametrize("listed", LINE)
def test_a_listed_spelling_blocks_every_other(api: Api, admin: Client, listed: str) -> None:
    door = LINE.index(listed) % 3  # the API, the admin, an upload: each spelling by one of them
    if door == 0:
        assert admin.post("/api/v1/dnc/", {"phone": listed}, "application/json").status_code == 201
    elif door == 1:
        answer = admin.post("/admin/leads/dncentry/add/", {"number": listed, "note": "asked"})
        assert answer.status_code == 302
    else:
        upload = admin.post("/api/v1/dnc/upload", f"phone\n{listed}\n", "text/csv")
        assert upload.json()["added"] == 1
    assert list(DncEntry.objects.values_list("number", flat=True)) == ["+61393812222"]

    assert codes(api, LINE) == [104] * len(LINE)
    for spelling in LINE:
        answer = api.post("insertLeadFast", {"FirstPhone": spelling})
        assert answer.json()["code"] == 104, spelling
    check = admin.post("/api/v1/dnc/check", {"phones": LINE}, "application/json").json()
    assert {(r["normalised"], r["blocked"]) for r in check["results"]} == {("+61393812222", True)}
    # Listing it again, spelled another way, updates the one entry.
    again = admin.post("/api/v1/dnc/", {"phone": LINE[(LINE.index(listed) + 1) % len(LINE)]},
                       "application/json")  # fmt: skip
    assert again.status_code == 200 and DncEntry.objects.count() == 1


def test_every_spelling_is_a_duplicate_of_every_other(api: Api) -> None:
    assert codes(api, LINE) == [0] + [105] * (len(LINE) - 1)  # within one batch
    assert codes(api, MOBILE[:1]) == [0]
    for spelling in [*LINE, *MOBILE]:  # against the stored leads, one call each
        assert api.post("insertLeadFast", {"FirstPhone": spelling}).json()["code"] == 105
    assert codes(api, MOBILE, allowDuplicates="true") == [0] * len(MOBILE)


def test_an_update_to_a_listed_line_however_spelled_is_104(api: Api) -> None:
    DncEntry.objects.create(number="+61393812222")
    lead = api.post("insertLeadFast", {"FirstPhone": MOBILE[0], "njExternalLeadId": "x"}).json()
    assert lead["code"] == 0
    for spelling in LINE:
        body = {"njExternalLeadId": "x", "FirstPhone": spelling, "njDisposition": "<No Change>"}
        Lead.objects.filter(pk=lead["leadId"]).update(disposition=_disposition(api))
        assert api.post("updateLeadFast", body).json()["code"] == 104, spelling
    # With a second, usable number the listed one is kept but blocked.
    body = {"njExternalLeadId": "x", "FirstPhone": MOBILE[1], "SecondPhone": LINE[5]}
    assert api.post("updateLeadFast", body).json()["code"] == 0
    numbers = Lead.objects.get().phones.order_by("field_name").values_list("number", "blocked")
    assert list(numbers) == [("+61412345678", False), ("+61393812222", True)]


def _disposition(api: Api) -> Disposition:
    disposition, _ = Disposition.objects.get_or_create(
        disposition_set=api.template.disposition_set, name="No Answer"
    )
    return disposition


def test_an_import_reads_every_spelling_as_one_line(api: Api, admin: Client) -> None:
    DncEntry.objects.create(number="+61412345678")
    rows = "\n".join(f'"{n}"' for n in [*LINE, *MOBILE])
    upload = io.BytesIO(f"FirstPhone\n{rows}\n".encode())
    upload.name = "vendor.csv"
    form = {"template": api.template.pk, "campaign": api.campaign.pk,
            "allocation": api.allocation.pk, "file": upload}  # fmt: skip
    answer = admin.post("/api/v1/imports/", data=form)
    assert answer.status_code == 202, answer.content
    assert lead_import_run(answer.json()["id"]) == "done"
    done = LeadImport.objects.get()
    assert (done.imported, done.rejected_by_code) == (1, {"105": len(LINE) - 1, "104": 4})
    assert list(api.campaign.leads.values_list("phones__number", flat=True)) == ["+61393812222"]


def test_the_admins_lead_search_finds_the_lead_by_any_spelling(api: Api, admin: Client) -> None:
    assert api.post("insertLeadFast", {"Name": "Ann", "FirstPhone": LINE[0]}).json()["code"] == 0
    for spelling in LINE:
        page = admin.get("/admin/leads/lead/", {"q": spelling}).content.decode()
        assert "(03) 9381 2222" in page, spelling
        found = admin.get("/api/v1/leads/", {"phone": spelling}).json()
        assert found["count"] == 1, spelling


def test_the_dialers_dnc_action_lists_the_dialled_line(api: Api) -> None:
    """The dialer is handed the national form; its DNC action lists the stored (E.164) number,
    which then blocks every spelling."""
    hours = always_open("Open")
    api.template.contact_hours = hours
    api.template.save()
    api.campaign.active = True
    api.campaign.save()
    api.allocation.started = True
    api.allocation.save()
    stop = Disposition.objects.create(disposition_set=api.template.disposition_set, name="Stop")
    DispositionAction.objects.create(disposition=stop, position=0, kind="dnc",
                                     params={"numbers": "dialed"})  # fmt: skip
    assert api.post("insertLeadFast", {"FirstPhone": "+61 (0)3 9381 2222"}).json()["code"] == 0
    dialer_cache_refresh(api.campaign.pk)
    handed = dialer_lead_next(api.campaign.pk, "agent")
    assert handed is not None and handed.phone == "0393812222"  # as the PBX dials it
    dialer_outcome(handed.lead_id, "Stop")
    assert list(DncEntry.objects.values_list("number", flat=True)) == ["+61393812222"]
    for spelling in itertools.islice(LINE, 0, None, 2):
        assert api.post("insertLeadFast", {"FirstPhone": spelling}).json()["code"] == 104
