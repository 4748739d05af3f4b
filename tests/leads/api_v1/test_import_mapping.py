"""An import's column mapping and its dry run over ``/api/v1/imports/``: a vendor's header is
mapped by guess or as given, a bad mapping is refused with nothing stored, and a dry run
counts exactly what the import then does while writing no lead."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from leads.models import ImportMapping, Lead, LeadImport, LeadPhone
from leads.services.lead_import import lead_import_run
from tests.campaignapi import Api as CampaignApi
from tests.campaignapi import make_api
from tests.leads.api_v1.conftest import Api
from tests.leads.api_v1.test_imports import status, upload
from tests.snapshot import database_rows

pytestmark = pytest.mark.django_db(transaction=True)

VENDOR_HEADER = "Lead Ref,Full Name,Mobile,Priority,Agent notes\n"


@pytest.fixture
def api(client: Client) -> CampaignApi:
    return make_api(client)


def vendor_file() -> str:
    """Twelve rows over three chunks of four: a duplicate number in the third chunk of one in
    the first, a duplicate external id across chunks, a bad number, a bad priority."""
    rows = [f"v{i},Person {i},04{i:08d},{i % 5},n{i}" for i in range(12)]
    rows[9] = "v9,Dup number,0400000001,,"  # the number of row 1: 105 (a number in use)
    rows[10] = "v2,Dup ref,0499999999,,"  # the external id of row 2: 112
    rows[5] = "v5,Bad phone,hello,,"  # 102
    rows[7] = "v7,Bad priority,0411111111,high,"  # 111
    return VENDOR_HEADER + "\n".join(rows) + "\n"


def test_a_dry_run_counts_what_the_import_then_does_and_writes_no_lead(
    admin_api: Api, api: CampaignApi, settings: Any
) -> None:
    settings.LEAD_IMPORT_CHUNK_ROWS = 4
    answer = upload(admin_api, api, vendor_file(), dryRun="true")
    assert answer.status_code == 202, answer.content
    made = answer.json()
    assert made["mapping"] == {
        "Lead Ref": "njExternalLeadId",
        "Full Name": "",
        "Mobile": "FirstPhone",
        "Priority": "njPriority",
        "Agent notes": "",
    }
    assert (made["status"], made["dryRun"], made["checked"]) == ("queued", True, None)
    assert made["sample"][0] == ["v0", "Person 0", "0400000000", "0", "n0"]
    leads_before = database_rows()
    assert lead_import_run(made["id"]) == "draft"
    checked = status(admin_api, made["id"])
    assert checked["status"] == "draft" and checked["error"] == ""
    assert checked["checked"]["imported"] == 8 and checked["checked"]["rejected"] == 4
    assert checked["checked"]["rejectedByCode"] == {"102": 1, "105": 1, "112": 1, "151": 1}
    assert not Lead.objects.exists() and not LeadPhone.objects.exists()
    # Only the import's own row changed (its counts); the rejected rows are reported.
    assert {table for table, rows in database_rows().items() if rows != leads_before[table]} <= {
        "leads_leadimport",
        "leads_leadimportreport",
    }
    # Run for real with "Full Name" now mapped: the same counts, the leads written.
    run = admin_api.post(f"imports/{made['id']}/run", {"mapping": {"Full Name": "Name"}})
    assert run.status_code == 202, run.content
    assert (run.json()["status"], run.json()["dryRun"], run.json()["processed"]) == (
        "queued",
        False,
        0,
    )
    assert lead_import_run(made["id"]) == "done"
    done = status(admin_api, made["id"])
    assert (done["imported"], done["rejected"], done["rejectedByCode"]) == (
        checked["checked"]["imported"],
        checked["checked"]["rejected"],
        checked["checked"]["rejectedByCode"],
    )
    assert done["ignoredColumns"] == ["Agent notes"]
    assert Lead.objects.count() == 8
    assert Lead.objects.get(external_id="v3").fields == {
        "Name": "Person 3",
        "FirstPhone": "0400000003",
    }
    # The template keeps the mapping for its next file.
    assert ImportMapping.objects.get(template=api.template).columns["full name"] == "Name"
    again = admin_api.post(f"imports/{made['id']}/run", {})
    assert again.status_code == 400 and again.json()["detail"].startswith("the import is done")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Mobile": "Shoe size"}, "the column 'Mobile' is mapped to 'Shoe size', which is"),
        ({"Nope": "Name"}, "the mapping names columns the file does not have: 'Nope'"),
        ({"Full Name": "FirstPhone"}, "the columns 'Full Name' and 'Mobile' are both mapped"),
        ({"Mobile": ""}, "no column is mapped to a phone field of the template"),
        ([1, 2], 'a JSON object {column: field or ""}'),
    ],
)
def test_a_bad_mapping_is_refused_and_nothing_is_stored(
    admin_api: Api, api: CampaignApi, mapping: Any, message: str
) -> None:
    before = database_rows()
    answer = upload(admin_api, api, vendor_file(), mapping=json.dumps(mapping))
    assert answer.status_code == 400, answer.content
    errors = answer.json()["errors"]["mapping"]
    assert any(message in error for error in errors), errors
    assert database_rows() == before


def test_a_draft_runs_nothing_until_run_and_a_queued_dry_run_cancels_back_to_it(
    admin_api: Api, api: CampaignApi
) -> None:
    made = upload(admin_api, api, vendor_file(), draft="true").json()
    assert made["status"] == "draft"
    assert lead_import_run(made["id"]) == "draft"  # a stray task runs nothing
    assert admin_api.post(f"imports/{made['id']}/run", {"dryRun": True}).status_code == 202
    cancelled = admin_api.post(f"imports/{made['id']}/cancel")
    assert cancelled.json()["status"] == "draft"
    discarded = admin_api.post(f"imports/{made['id']}/cancel")
    assert discarded.json()["status"] == "cancelled"
    assert LeadImport.objects.get().status == "cancelled" and not Lead.objects.exists()
