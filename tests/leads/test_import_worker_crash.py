"""Kill -9 of the real ``celery worker`` running a manual import (domain.md §5.3): no chunk is
half-written, the campaign hold goes with the worker, and the sweeper's new delivery of the
task resumes the import on another worker after its last committed chunk, writing no row
twice."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connection, transaction

from campaigner.locks import LockKey
from leads.models import Lead, LeadImport, LeadPhone
from leads.services import lead_import
from leads.services.lead_import import RUN_TASK, lead_import_create, lead_imports_recover
from tests.campaignapi import make_api
from tests.live import celery_worker

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROWS = 60_000
CHUNK = 5_000
QUEUE = f"import-crash-test-{os.getpid()}"


def worker(logs: Path) -> Any:
    return celery_worker(logs, QUEUE, LEAD_IMPORT_CHUNK_ROWS=str(CHUNK))


def queue(import_id: int) -> None:
    current_app.signature(RUN_TASK, args=(import_id,), queue=QUEUE).delay()


def wait_for(predicate: Any, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}; worker log:\n{logs.read_text()[-3000:]}")
        time.sleep(0.02)


def hold_is_free(campaign_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [int(LockKey.CAMPAIGN_IMPORT_HOLD), campaign_id]
        )
        free = bool(cursor.fetchone()[0])
        if free:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, %s)",
                [int(LockKey.CAMPAIGN_IMPORT_HOLD), campaign_id],
            )
    return free


def test_a_killed_worker_leaves_whole_chunks_and_the_import_resumes(
    client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    api = make_api(client)
    monkeypatch.setattr(lead_import, "_queue", queue)
    content = "Name,FirstPhone\n" + "".join(f"r{i},04{i:08d}\n" for i in range(ROWS))
    upload = io.BytesIO(content.encode())
    with transaction.atomic():
        created = lead_import_create(
            api.template, api.campaign, api.allocation, upload, file_name="big.csv",
            size=len(content), allow_duplicates=False, user=None,
        )  # fmt: skip
    logs = tmp_path / "worker.log"

    def progress() -> LeadImport:
        return LeadImport.objects.get(pk=created.pk)

    with worker(logs) as first:
        wait_for(lambda: progress().processed >= 2 * CHUNK, 120, "no chunk committed", logs)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    killed = progress()
    assert killed.status == "running" and 0 < killed.processed < ROWS
    wait_for(lambda: hold_is_free(api.campaign.pk), 30, "the hold outlived its worker", logs)
    # Whole chunks only: the leads and numbers written are exactly the committed progress.
    written = progress()
    assert written.processed % CHUNK == 0
    assert Lead.objects.count() == written.imported == written.processed
    assert LeadPhone.objects.count() == written.processed

    LeadImport.objects.filter(pk=created.pk).update(created_at=killed.created_at)
    assert lead_imports_recover() == [created.pk]  # queued again, on the test's queue
    with worker(logs):
        wait_for(lambda: progress().status == "done", 120, "the import did not resume", logs)
    done = progress()
    assert (done.processed, done.imported, done.rejected, done.runs) == (ROWS, ROWS, 0, 2)
    numbers = list(LeadPhone.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == ROWS  # no row written twice
    assert hold_is_free(api.campaign.pk)
