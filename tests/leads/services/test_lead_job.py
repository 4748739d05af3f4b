"""Bulk jobs (``leads.services.lead_job``), run in this process: preview = run, dry runs write
nothing, checked-out leads skipped, every change versioned and in the history, undo of an
import, export → import round trip, cancel, resume without double-applying, scoping."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.utils import timezone

from campaigner.contract import Refused
from campaigner.roles import OPERATOR, SUPERVISOR
from leads.models import Lead, LeadChange, LeadImport, LeadJob, LeadPhone
from leads.services import lead_import, lead_job
from leads.services.lead_import import lead_import_create, lead_import_run
from leads.services.lead_job import lead_job_create, lead_job_csv, lead_job_preview, lead_job_run
from tests.campaignapi import Api, make_api
from tests.factories import AllocationFactory, CampaignFactory, TeamFactory, UserFactory
from tests.snapshot import database_rows

# The job and the import commit chunk by chunk: they refuse to run inside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: Any) -> None:
    monkeypatch.setattr(lead_job, "_queue", lambda job_id: None)
    monkeypatch.setattr(lead_import, "_queue", lambda import_id: None)


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


@pytest.fixture
def supervisor(api: Api) -> Any:
    """A supervisor of the team of the test campaign's template."""
    team = TeamFactory(name="Solar team")
    api.template.teams.add(team)
    user = UserFactory(username="sue", is_staff=True)
    user.groups.add(Group.objects.get(name=SUPERVISOR), team)
    return user


def insert(api: Api, count: int, start: int = 0, **lead: Any) -> list[int]:
    body = [
        {
            "Name": f"n{i}",
            "FirstPhone": f"04{i:08d}",
            "SecondPhone": f"03{i:08d}",
            "njExternalLeadId": f"x{i}",
            **lead,
        }
        for i in range(start, start + count)
    ]
    answer = api.post("insertLeadsFast", body).json()
    assert answer["imported"] == count, answer
    return [r["leadId"] for r in answer["results"]]


def run(user: Any, kind: str, selection: dict[str, Any], params: Any = None, **kw: Any) -> LeadJob:
    job = lead_job_create(user, kind, selection, params, **kw)
    assert lead_job_run(job.pk) == "done"
    return LeadJob.objects.get(pk=job.pk)


def test_move_preview_equals_the_run_and_each_change_is_versioned_and_recorded(
    api: Api, supervisor: Any, settings: Any
) -> None:
    settings.LEAD_JOB_CHUNK = 7  # several chunks
    ids = insert(api, 25)
    other = AllocationFactory(campaign=api.campaign, name="Callbacks")
    selection = {"campaign": api.campaign.pk, "allocation": api.allocation.pk}
    preview = lead_job_preview(supervisor, "move", selection)
    assert preview.count == 25 and [lead.pk for lead in preview.sample] == ids[:10]

    job = run(supervisor, "move", selection, {"allocation": other.pk})
    assert (job.total, job.processed, job.changed, job.skipped) == (25, 25, 25, {})
    assert set(Lead.objects.values_list("allocation_id", "version")) == {(other.pk, 2)}
    change = LeadChange.objects.get(lead_id=ids[0])
    assert (change.via, change.by, change.version_before, change.version_after) == (
        "job", f"job {job.pk}", 1, 2,
    )  # fmt: skip
    assert change.system == {"allocation": [api.allocation.pk, other.pk]}


def test_a_dry_run_reports_what_the_run_does_and_writes_nothing(api: Api, supervisor: Any) -> None:
    ids = insert(api, 6)
    Lead.objects.filter(pk__in=ids[:2]).update(closed=True)
    held = timezone.now() + dt.timedelta(minutes=3)
    Lead.objects.filter(pk=ids[2]).update(checked_out_by="agent-1", checked_out_until=held)
    before = database_rows(exclude=frozenset({"leads_leadjob"}))
    dry = run(supervisor, "close", {"campaign": api.campaign.pk}, dry_run=True)
    assert database_rows(exclude=frozenset({"leads_leadjob"})) == before
    real = run(supervisor, "close", {"campaign": api.campaign.pk})
    for job in (dry, real):
        assert job.changed == 3
        assert job.skipped == {"already so": 2, "checked out": 1}
        assert job.samples["checked out"] == [ids[2]]
    # The checked-out lead was not overwritten: still open, still the agent's, same version.
    lead = Lead.objects.get(pk=ids[2])
    assert (lead.closed, lead.checked_out_by, lead.version) == (False, "agent-1", 1)


def test_reset_priority_clear_callbacks(api: Api, supervisor: Any) -> None:
    ids = insert(api, 3, njCallBackDate="2030/01/02 10:00", njPriority=50)
    campaign = {"campaign": api.campaign.pk}
    job = run(supervisor, "priority", campaign, {"priority": 7})
    assert job.changed == 3
    assert set(Lead.objects.values_list("priority", flat=True)) == {7}
    assert run(supervisor, "clear_callbacks", {**campaign, "hasCallback": "true"}).changed == 3
    assert not Lead.objects.filter(callback_at__isnull=False).exists()
    Lead.objects.filter(pk=ids[0]).update(closed=True)
    reset = run(supervisor, "reset", campaign)
    assert (reset.changed, reset.skipped) == (1, {"already so": 2})
    assert not Lead.objects.filter(closed=True).exists()
    with pytest.raises(Refused):
        lead_job_create(supervisor, "priority", campaign, {"priority": 101})


def test_delete_removes_the_leads_numbers_and_records_and_keeps_their_history(
    api: Api, supervisor: Any
) -> None:
    ids = insert(api, 4)
    job = run(supervisor, "delete", {"campaign": api.campaign.pk, "externalId": "x1"})
    assert job.changed == 1
    assert not Lead.objects.filter(pk=ids[1]).exists()
    assert not LeadPhone.objects.filter(lead_id=ids[1]).exists()
    assert Lead.objects.count() == 3
    gone = LeadChange.objects.get(lead_id=ids[1])
    assert (gone.kind, gone.via, gone.version_before) == ("delete", "job", 1)


def test_an_operator_may_not_delete_and_sees_only_their_teams(api: Api) -> None:
    insert(api, 2)
    operator = UserFactory(username="op", is_staff=True)
    operator.groups.add(Group.objects.get(name=OPERATOR))
    with pytest.raises(Refused, match="supervisor"):
        lead_job_create(operator, "delete", {"campaign": api.campaign.pk})
    # In another team, not the campaign's: the campaign does not exist for them.
    operator.groups.add(TeamFactory(name="Elsewhere"))
    with pytest.raises(Refused, match="no campaign"):
        lead_job_create(operator, "close", {"campaign": api.campaign.pk})
    assert not LeadJob.objects.exists()


def _import(api: Api, rows: list[str], header: str = "Name,FirstPhone,njExternalLeadId") -> int:
    content = (header + "\n" + "".join(f"{row}\n" for row in rows)).encode()
    with transaction.atomic():
        created = lead_import_create(
            api.template, api.campaign, api.allocation, io.BytesIO(content),
            file_name="vendor.csv", size=len(content), allow_duplicates=False, user=None,
        )  # fmt: skip
    assert lead_import_run(created.pk) == "done"
    return created.pk


def test_undo_an_import_deletes_what_is_untouched_and_reports_the_edited(
    api: Api, supervisor: Any
) -> None:
    before = insert(api, 2, start=100)  # not the import's
    import_id = _import(api, [f"r{i},04{i:08d},i{i}" for i in range(5)])
    imported = list(
        Lead.objects.filter(origin__lead_import_id=import_id).values_list("pk", flat=True)
    )
    assert len(imported) == 5
    edited = imported[3]
    Lead.objects.filter(pk=edited).update(version=2, priority=1)
    job = run(supervisor, "undo_import", {"leadImport": import_id})
    assert (job.changed, job.skipped, job.samples) == (
        4, {"edited since the import": 1}, {"edited since the import": [edited]},
    )  # fmt: skip
    assert sorted(Lead.objects.values_list("pk", flat=True)) == sorted([*before, edited])


def test_export_then_import_into_another_campaign_gives_the_same_leads(
    api: Api, supervisor: Any
) -> None:
    insert(api, 3, njPriority=40, njCallBackDate="2031/03/04 09:30", City="Richmond")
    insert(api, 1, start=10, Name='Comma, "quoted"\nnewline')
    job = run(supervisor, "export", {"campaign": api.campaign.pk})
    text = b"".join(lead_job_csv(job)).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert job.changed == 4 and len(rows) == 4
    assert rows[0]["njCallBackDate"] == "2031/03/04 09:30"  # in the lead's zone
    assert rows[3]["Name"] == 'Comma, "quoted"\nnewline'

    campaign = CampaignFactory(template=api.template, name="Copy")
    allocation = AllocationFactory(campaign=campaign)
    with transaction.atomic():
        created = lead_import_create(
            api.template, campaign, allocation, io.BytesIO(text.encode()),
            file_name="export.csv", size=len(text.encode()), allow_duplicates=False, user=None,
        )  # fmt: skip
    assert lead_import_run(created.pk) == "done"
    assert LeadImport.objects.get(pk=created.pk).imported == 4

    def leads(campaign_id: int) -> list[tuple[Any, ...]]:
        return sorted(
            Lead.objects.filter(campaign_id=campaign_id).values_list(
                "fields", "external_id", "priority", "callback_at", "contact_hours_id"
            ),
            key=repr,
        )

    assert leads(campaign.pk) == leads(api.campaign.pk)


def test_cancel_between_chunks_and_resume_applies_nothing_twice(
    api: Api, supervisor: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.LEAD_JOB_CHUNK = 5
    insert(api, 20)
    job = lead_job_create(supervisor, "priority", {"campaign": api.campaign.pk}, {"priority": 3})
    real_report = lead_job._Report.add
    chunks = 0

    def crash_after_two(self: Any, *args: Any) -> None:
        nonlocal chunks
        real_report(self, *args)
        chunks += 1
        if chunks == 2:
            raise SystemExit("the worker died")  # after the chunk's transaction... not yet

    monkeypatch.setattr(lead_job._Report, "add", crash_after_two)
    with pytest.raises(SystemExit):
        lead_job_run(job.pk)
    # The second chunk's transaction rolled back with the crash: one chunk committed.
    stopped = LeadJob.objects.get(pk=job.pk)
    assert stopped.processed == 5 and stopped.status == "running"
    assert Lead.objects.filter(priority=3).count() == 5
    monkeypatch.setattr(lead_job._Report, "add", real_report)
    assert lead_job_run(job.pk) == "done"
    done = LeadJob.objects.get(pk=job.pk)
    assert (done.processed, done.changed, done.runs) == (20, 20, 2)
    assert set(Lead.objects.values_list("version", flat=True)) == {2}  # each written once

    second = lead_job_create(supervisor, "close", {"campaign": api.campaign.pk})
    LeadJob.objects.filter(pk=second.pk).update(cancel_requested=True)
    assert lead_job_run(second.pk) == "cancelled"
    assert not Lead.objects.filter(closed=True).exists()


def test_a_json_selection_takes_booleans_and_id_lists(api: Api, supervisor: Any) -> None:
    ids = insert(api, 4)
    Lead.objects.filter(pk=ids[0]).update(closed=True)
    preview = lead_job_preview(supervisor, "reset", {"ids": ids[:3], "closed": True})
    assert (preview.count, [lead.pk for lead in preview.sample]) == (1, [ids[0]])
    with pytest.raises(Refused, match="not a lead filter"):
        lead_job_preview(supervisor, "reset", {"campaign": api.campaign.pk, "colour": "red"})
    with pytest.raises(Refused, match="priority"):
        lead_job_preview(supervisor, "reset", {"campaign": api.campaign.pk, "priority": "high"})
