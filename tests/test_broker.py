"""The broker a deployment runs on, the embedded one by default (#23): a flood of 900 webhook
deliveries, queued by three producers at once while beat ticks every second, is delivered within
30 s by a worker as ``make run`` starts it; the worker is killed (``kill -9``) with tasks in
flight half-way, and a new worker still delivers every one (what it had taken comes back through
the sweeper). Each delivery reaches the receiver; none is marked failed.

Against kombu's filesystem transport (the earlier default) this fails: run on that commit, 58
of the 900 were delivered in the 30 s (it polls once a second), and its worker can die on a
half-written message file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigner.models import DispositionAction
from leads.models import ActionDelivery, Lead
from leads.services.delivery import deliveries_queue_on_commit
from tests.factories import AllocationFactory, DispositionFactory
from tests.live import celery
from tests.webhooks import Hook

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DELIVERIES = 900
PRODUCERS = 3
WITHIN_S = 30
ENV = {"ACTION_WEBHOOK_ALLOW_PRIVATE": "1", "ACTION_SWEEP_SECONDS": "2",
       "DIALER_REFRESH_SECONDS": "1"}  # fmt: skip
WORKER = ("--concurrency", "2", "--without-mingle", "--without-gossip")  # as make run starts it


def produce(ids: list[int]) -> None:
    """Queue an attempt of each delivery, as a disposition's commit does (one producer)."""
    with transaction.atomic():
        deliveries_queue_on_commit(ids)
    connection.close()


def delivered() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_actiondelivery WHERE status = 'delivered'")
        return int(cursor.fetchone()[0])


def test_a_flood_of_deliveries_survives_a_killed_worker(tmp_path: Path) -> None:
    receiver = Hook([])
    allocation = AllocationFactory()
    disposition = DispositionFactory(disposition_set=allocation.campaign.template.disposition_set)
    action = DispositionAction.objects.create(
        disposition=disposition, kind="webhook", params={"url": receiver.url, "secret": "s"}
    )
    leads = Lead.objects.bulk_create(
        Lead(campaign=allocation.campaign, allocation=allocation, fields={})
        for _ in range(DELIVERIES)
    )
    deliveries = ActionDelivery.objects.bulk_create(
        ActionDelivery(kind="webhook", lead=lead, action=action, next_attempt_at=timezone.now(),
                       payload={"url": receiver.url, "body": {"njLeadId": lead.pk}})
        for lead in leads
    )  # fmt: skip
    ids = [d.pk for d in deliveries]
    log = tmp_path / "celery.log"
    with celery("beat", log, "-s", str(tmp_path / "beat-schedule"), **ENV):
        with celery("worker", log, *WORKER, **ENV) as worker:
            started = time.monotonic()
            producers = [
                threading.Thread(target=produce, args=(ids[i::PRODUCERS],))
                for i in range(PRODUCERS)
            ]
            for producer in producers:
                producer.start()
            while delivered() < DELIVERIES // 3 and time.monotonic() - started < WITHIN_S:
                time.sleep(0.05)
            # kill -9 of the worker and its pool processes, tasks in flight and prefetched
            pool = psutil.Process(worker.pid).children(recursive=True)
            worker.kill()
            for child in pool:
                child.kill()
            worker.wait()
        for producer in producers:
            producer.join()
        with celery("worker", log, *WORKER, **ENV):
            while delivered() < DELIVERIES and time.monotonic() - started < WITHIN_S:
                time.sleep(0.1)
            took = time.monotonic() - started
    logged = log.read_text(errors="replace")
    assert "Unrecoverable error" not in logged
    assert delivered() == DELIVERIES, (delivered(), took, logged[-3000:])
    assert took <= WITHIN_S
    assert len({headers["X-Campaigner-Delivery"] for headers, _ in receiver.received}) == DELIVERIES
    assert not ActionDelivery.objects.filter(status="failed").exists()
    receiver.server.shutdown()
