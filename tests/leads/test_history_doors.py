"""A lead's history from every door, as ``/api/v1/leads/<id>/history`` and the lead's page show
it: the insert's origin (the call and key, the import, the copy action), then each change with
its door, writer, versions and values — the CampaignAPI update, the admin's check-out and save,
the dialer's hand-out and outcome, a bulk job. A write that fails leaves no entry, and neither
does a chunk of an import that rolls back."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from campaigner.models import ContactHoursWindow, Disposition, DispositionAction
from dialer.services import dialer_cache_refresh, dialer_lead_next, dialer_outcome
from leads.lead_form import LeadEditForm, encode
from leads.models import Lead, LeadChange, LeadImport
from leads.services import lead_import, lead_insert, lead_job
from leads.services.lead_edit import lead_values
from leads.services.lead_import import lead_import_create, lead_import_run
from leads.services.lead_job import lead_job_create, lead_job_run
from tests.campaignapi import Api, make_api

pytestmark = pytest.mark.django_db(transaction=True)  # the CampaignAPI and imports commit

JANE = {"Name": "Jane", "FirstPhone": "0383218199", "njExternalLeadId": "crm-1"}


@pytest.fixture
def api(monkeypatch: Any) -> Api:
    monkeypatch.setattr(lead_import, "_queue", lambda import_id: None)
    monkeypatch.setattr(lead_job, "_queue", lambda job_id: None)
    api = make_api(Client())
    api.campaign.template.contact_hours.windows.all().delete()
    for day in range(7):  # open all week, so the dialer hands the lead out
        ContactHoursWindow.objects.create(
            contact_hours=api.template.contact_hours, weekday=day, start_minute=0, end_minute=1440
        )
    api.allocation.started = True
    api.allocation.save()
    Disposition.objects.create(disposition_set=api.template.disposition_set, name="No Answer")
    Disposition.objects.create(disposition_set=api.template.disposition_set, name="Call back")
    return api


@pytest.fixture
def admin() -> Client:
    user = get_user_model().objects.create_superuser("sam", "sam@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def history(admin: Client, lead_id: int) -> list[dict[str, Any]]:
    answer = admin.get(f"/api/v1/leads/{lead_id}/history")
    assert answer.status_code == 200
    return [
        {k: e[k] for k in ("via", "by", "versionBefore", "versionAfter", "fields", "system")}
        for e in answer.json()["results"]
    ]


def test_every_door_writes_the_history_in_order(api: Api, admin: Client) -> None:
    lead_id = api.post("insertLeadFast", JANE).json()["leadId"]
    origin = admin.get(f"/api/v1/leads/{lead_id}").json()["origin"]
    assert (origin["via"], origin["by"], origin["call"]) == ("api", "global", "insertLeadFast")
    assert origin["description"] == "insertLeadFast with key global"

    # The CampaignAPI's update: the key, the field changed.
    body = {**JANE, "City": "Richmond", "njDisposition": "Call back"}
    assert api.post("updateLeadFast", body).json()["code"] == 0
    # The dialer: the hand-out (a check-out) and the outcome (its release).
    dialer_cache_refresh(api.campaign.pk)
    handed = dialer_lead_next(api.campaign.pk, "agent-7")
    assert handed is not None and handed.lead_id == lead_id
    dialer_outcome(lead_id, "No Answer")
    # The admin: opening reads; starting to edit holds the lead; saving writes and releases.
    page = f"/admin/leads/lead/{lead_id}/change/"
    assert admin.get(page).status_code == 200
    assert admin.post(f"/admin/leads/lead/{lead_id}/hold/").json()["held"]
    lead = Lead.objects.select_related("campaign__template").get(pk=lead_id)
    form = LeadEditForm(lead)
    values = lead_values(lead, form.names)
    data = {k: v for k, v in form.as_data(values).items() if v is not False}
    data |= {"seen_version": lead.version, "base": encode(values), "field:State": "VIC"}
    assert admin.post(page, data).status_code == 302
    # A bulk job.
    job = lead_job_create(
        get_user_model().objects.get(username="sam"), "priority",
        {"campaign": api.campaign.pk}, {"priority": 4},
    )  # fmt: skip
    assert lead_job_run(job.pk) == "done"

    entries = history(admin, lead_id)
    assert [(e["via"], e["by"], e["versionBefore"], e["versionAfter"]) for e in entries] == [
        ("api", "global", 1, 2),
        ("dialer", "agent-7", 2, 3),
        ("dialer", "agent-7", 3, 4),
        ("admin", "sam", 4, 5),
        ("admin", "sam", 5, 6),
        ("job", f"job {job.pk}", 6, 7),
    ]
    assert entries[0]["fields"] == {"City": [None, "Richmond"]}
    assert entries[1]["system"]["checkedOutBy"] == ["", "agent-7"]
    assert entries[2]["system"]["disposition"][1] == Disposition.objects.get(name="No Answer").pk
    assert entries[3]["system"]["checkedOutBy"] == ["", "admin:sam"]
    assert entries[4]["fields"] == {"State": [None, "VIC"]}
    assert entries[4]["system"]["checkedOutBy"] == ["admin:sam", ""]
    assert entries[5]["system"] == {"priority": [10, 4]}

    page = admin.get(f"/admin/leads/lead/{lead_id}/change/").content.decode()
    assert "insertLeadFast with key global" in page
    assert "Richmond" in page and "agent-7" in page and f"job {job.pk}" in page


def test_a_refused_write_and_a_rolled_back_chunk_leave_no_entry(
    api: Api, admin: Client, monkeypatch: Any
) -> None:
    lead_id = api.post("insertLeadFast", JANE).json()["leadId"]
    stale = {**JANE, "City": "Late", "njVersion": 9, "njDisposition": "Call back"}
    assert api.post("updateLeadFast", stale).json()["code"] == 110
    assert not LeadChange.objects.filter(lead_id=lead_id).exists()

    # An import whose second chunk fails after its leads were written: that chunk rolls back.
    monkeypatch.setattr(lead_import.settings, "LEAD_IMPORT_CHUNK_ROWS", 2)
    real_write = lead_insert._write
    writes = 0

    def fail_second(cursor: Any, rows: Any) -> None:
        nonlocal writes
        real_write(cursor, rows)
        writes += 1
        if writes == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(lead_insert, "_write", fail_second)
    content = b"Name,FirstPhone\na,0400000001\nb,0400000002\nc,0400000003\nd,0400000004\n"
    with transaction.atomic():
        created = lead_import_create(
            api.template, api.campaign, api.allocation, io.BytesIO(content),
            file_name="f.csv", size=len(content), allow_duplicates=False, user=None,
        )  # fmt: skip
    assert lead_import_run(created.pk) == "failed"
    assert LeadImport.objects.get(pk=created.pk).imported == 2
    imported = Lead.objects.filter(origin__lead_import=created.pk)
    assert sorted(lead.fields["Name"] for lead in imported) == ["a", "b"]
    assert not LeadChange.objects.exclude(lead_id__in=[lead_id]).exists()


def test_a_copy_action_names_its_origin(api: Api, admin: Client) -> None:
    sold = Disposition.objects.create(disposition_set=api.template.disposition_set, name="Sold")
    DispositionAction.objects.create(
        disposition=sold, position=0, kind="copy_lead",
        params={"template": api.template.name, "campaign": api.campaign.name,
                "allocation": api.allocation.name},
    )  # fmt: skip
    lead_id = api.post("insertLeadFast", JANE).json()["leadId"]
    body = {**JANE, "njDisposition": "Sold"}
    assert api.post("updateLeadFast", body).json()["code"] == 0
    copy = Lead.objects.exclude(pk=lead_id).select_related("origin").get()
    assert (copy.origin.via, copy.origin.by, copy.origin.call) == (
        "action", f"lead {lead_id}", "copy_lead",
    )  # fmt: skip
