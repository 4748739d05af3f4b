"""Kill -9 of the real ``celery worker`` running a bulk job: whole chunks only, and the
sweeper's new delivery of the task resumes the job on another worker after its last committed
chunk, applying nothing twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.contrib.auth import get_user_model
from django.test import Client

from campaigner.locks import LockKey, session_try_lock
from campaigner.sql import call_target_of
from leads.models import Lead, LeadChange, LeadJob
from leads.services import lead_job
from leads.services.lead_insert import lead_insert_batch
from leads.services.lead_job import RUN_TASK, lead_job_create, lead_jobs_recover
from tests.campaignapi import make_api
from tests.factories import TESTS_ORIGIN
from tests.leads.test_import_worker_crash import wait_for
from tests.live import celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEADS = 60_000
CHUNK = 3_000
QUEUE = f"job-crash-test-{os.getpid()}"


def run_lock_is_free(job_id: int) -> bool:
    with session_try_lock(LockKey.LEAD_JOB_RUN, job_id) as free:
        return free


def queue(job_id: int) -> None:
    current_app.signature(RUN_TASK, args=(job_id,), queue=QUEUE).delay()


def test_a_killed_worker_leaves_whole_chunks_and_the_job_resumes(
    tmp_path: Path, monkeypatch: Any
) -> None:
    api = make_api(Client())
    body = [{"Name": f"n{i}", "FirstPhone": f"04{i:08d}"} for i in range(LEADS)]
    lead_insert_batch(call_target_of(api.allocation), body, origin=TESTS_ORIGIN)
    user = get_user_model().objects.create_superuser("boss", "b@example.com", "pw")
    monkeypatch.setattr(lead_job, "_queue", queue)
    job = lead_job_create(user, "priority", {"campaign": api.campaign.pk}, {"priority": 2})
    logs = tmp_path / "worker.log"

    def progress() -> LeadJob:
        return LeadJob.objects.get(pk=job.pk)

    with celery_worker(logs, QUEUE, LEAD_JOB_CHUNK=str(CHUNK)) as first:
        wait_for(lambda: progress().processed >= 2 * CHUNK, 120, "no chunk committed", logs)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    killed = progress()
    assert killed.status == "running" and 0 < killed.processed < LEADS
    assert killed.processed % CHUNK == 0  # whole chunks
    assert Lead.objects.filter(priority=2).count() == killed.changed == killed.processed
    assert LeadChange.objects.count() == killed.processed

    # The killed worker's backend ends, and its run lock with it, a moment after the kill.
    wait_for(lambda: run_lock_is_free(job.pk), 30, "the run lock outlived its worker", logs)
    assert lead_jobs_recover() == [job.pk]
    with celery_worker(logs, QUEUE, LEAD_JOB_CHUNK=str(CHUNK)):
        wait_for(lambda: progress().status == "done", 120, "the job did not resume", logs)
    done = progress()
    assert (done.total, done.processed, done.changed, done.runs) == (LEADS, LEADS, LEADS, 2)
    assert set(Lead.objects.values_list("version", "priority")) == {(2, 2)}  # once each
    assert LeadChange.objects.count() == LEADS
