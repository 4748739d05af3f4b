"""A manual import of a file is ``insertLeadsFast`` of its rows (domain.md §5.3): for generated
files of mixed rows (duplicates in the file and in the campaign, DNC numbers, taken external
ids, bad callback dates and priorities, ``<No Change>``, quoted commas and newlines, a BOM),
the same rows are rejected for the same reasons and the same leads are stored, in order."""

from __future__ import annotations

import csv
import io
import itertools
import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigner.models import CampaignTemplate
from leads.models import DncEntry, Lead, LeadImport
from leads.services.lead_import import lead_import_errors_csv, lead_import_run
from tests.campaignapi import BASE, GLOBAL_KEY, make_api
from tests.factories import AllocationFactory, CampaignFactory, LeadFactory, LeadPhoneFactory
from tests.leads.api_v1.conftest import Api

# The CampaignAPI's write calls and an import's run refuse to start inside a transaction, so
# the test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = ["Name", "FirstPhone", "SecondPhone", "njExternalLeadId", "njPriority", "njCallBackDate"]
DNC = "0383218100"
IN_CAMPAIGN = "0400000009"
TAKEN_ID = "taken"

cells = {
    "Name": st.sampled_from(["Ann", "Smith, Bob", 'Say "hi"', "two\nlines", "", "<No Change>"]),
    "FirstPhone": st.sampled_from(
        ["0400000001", "0400 000 002", "0400000001", DNC, IN_CAMPAIGN, "", "abc", "<No Change>"]
    ),
    "SecondPhone": st.sampled_from(["", "0400000003", DNC, "0400000002"]),
    "njExternalLeadId": st.sampled_from(["", "e1", "e2", "e1", TAKEN_ID]),
    "njPriority": st.sampled_from(["", "0", "7", "100", "101", "-1", "x", "5.0"]),
    "njCallBackDate": st.sampled_from(
        ["", "2027/01/02 10:30", "2027/02/30 10:00", "tomorrow", "2027-01-02 10:30"]
    ),
}
row = st.fixed_dictionaries(cells)


def csv_text(rows: list[dict[str, str]], bom: bool) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r[c] for c in COLUMNS])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def template_of(client: Client) -> Any:
    """The sample template, made by the first example (each example adds campaigns to it)."""
    existing = CampaignTemplate.objects.filter(name="Solar").first()
    return existing or make_api(client).template


def seeded_allocation(template: Any) -> Any:
    allocation = AllocationFactory(campaign=CampaignFactory(template=template))
    lead = LeadFactory(allocation=allocation, external_id=TAKEN_ID, fields={"Name": "seed"})
    LeadPhoneFactory(lead=lead, number=IN_CAMPAIGN)
    return allocation


def stored(allocation: Any) -> list[tuple[Any, ...]]:
    leads = Lead.objects.filter(allocation=allocation).exclude(external_id=TAKEN_ID)
    return [
        (lead.fields, lead.external_id, lead.priority, lead.callback_at,
         sorted(lead.phones.values_list("field_name", "number", "blocked")))
        for lead in leads.order_by("id")
    ]  # fmt: skip


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(row, min_size=1, max_size=12), bom=st.booleans(), dup=st.booleans())
def test_an_import_equals_insert_leads_fast_of_its_rows(
    admin_api: Api, client: Client, rows: list[dict[str, str]], bom: bool, dup: bool
) -> None:
    template = template_of(client)
    DncEntry.objects.get_or_create(number=DNC)
    by_import, by_call = seeded_allocation(template), seeded_allocation(template)

    upload = io.BytesIO(csv_text(rows, bom))
    upload.name = "mixed.csv"
    form = {"template": template.pk, "campaign": by_import.campaign_id,
            "allocation": by_import.pk, "file": upload, "allowDuplicates": dup}  # fmt: skip
    answer = admin_api.client.post("/api/v1/imports/", data=form)
    assert answer.status_code == 202, answer.content
    import_id = answer.json()["id"]
    assert lead_import_run(import_id) == "done"

    leads = [{c: r[c] for c in COLUMNS if r[c] != ""} for r in rows]  # empty cell: no value
    query = (f"fTemplateId={template.pk}&fCampaignId={by_call.campaign_id}&fAllocationId="
             f"{by_call.pk}&apiKey={GLOBAL_KEY}&allowDuplicates={str(dup).lower()}")  # fmt: skip
    call = client.post(f"{BASE}insertLeadsFast?{query}", data=json.dumps(leads),
                       content_type="application/json")  # fmt: skip
    assert call.status_code == 200, call.content

    assert stored(by_import) == stored(by_call)
    report = csv.reader(
        io.StringIO(
            "".join(lead_import_errors_csv(LeadImport.objects.get(pk=import_id))), newline=""
        )
    )
    codes = {int(line): int(code) for line, code, *_ in itertools.islice(report, 1, None)}
    by_row = [codes.get(line, 0) for line in row_lines(rows)]
    assert by_row == [r["code"] for r in call.json()["results"]]


def row_lines(rows: list[dict[str, str]]) -> list[int]:
    """The file line each row starts on (the header is line 1; a cell may hold newlines)."""
    lines, line = [], 2
    for r in rows:
        out = io.StringIO(newline="")
        csv.writer(out).writerow([r[c] for c in COLUMNS])
        lines.append(line)
        line += out.getvalue().count("\n")
    return lines
