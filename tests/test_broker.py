"""The broker a deployment runs on, the embedded one by default (#23): a flood of 900 webhook
deliveries, queued by three producers at once while beat ticks every second, is delivered within
30 s by a worker as ``make run`` starts it; the worker is killed (``kill -9``) with tasks in
flight half-way, and a new worker still delivers every one (what it had taken comes back through
the sweeper). Each delivery reaches the receiver; none is marked failed.

Against kombu's filesystem transport (the earlier default) this fails: it drains about 2
tasks/s, and its worker can die on a half-written message file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigner.models import DispositionAction
from leads.models import ActionDelivery, Lead
from leads.services.delivery import deliveries_queue_on_commit
from tests.conftest import REPO
from tests.factories import AllocationFactory, DispositionFactory
from tests.live import broker_env, database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DELIVERIES = 900
PRODUCERS = 3
WITHIN_S = 30


class Receiver:
    """A webhook receiver on loopback that records each delivery id it is sent."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.ids.add(self.headers["X-Campaigner-Delivery"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextmanager
def celery(name: str, tmp_path: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": database_url(), **broker_env(),
           "ACTION_WEBHOOK_ALLOW_PRIVATE": "1", "ACTION_SWEEP_SECONDS": "2",
           "DIALER_REFRESH_SECONDS": "1", "CAMPAIGNER_DATA_DIR": str(tmp_path)}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "campaigner", name, "-l", "info", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / f"{name}.log").open("ab"),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def delivered() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_actiondelivery WHERE status = 'delivered'")
        return int(cursor.fetchone()[0])


def test_a_flood_of_deliveries_survives_a_killed_worker(tmp_path: Path) -> None:
    receiver = Receiver()
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
    worker_args = ("--concurrency", "2", "--without-mingle", "--without-gossip")  # as make run
    with celery("beat", tmp_path, "-s", str(tmp_path / "beat-schedule")):
        first = celery("worker", tmp_path, *worker_args)
        worker = first.__enter__()
        started = time.monotonic()

        def produce(part: list[int]) -> None:
            with transaction.atomic():
                deliveries_queue_on_commit(part)
            connection.close()

        producers = [
            threading.Thread(target=produce, args=(ids[i::PRODUCERS],)) for i in range(PRODUCERS)
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
        first.__exit__(None, None, None)
        for producer in producers:
            producer.join()
        with celery("worker", tmp_path, *worker_args):
            while delivered() < DELIVERIES and time.monotonic() - started < WITHIN_S:
                time.sleep(0.1)
            took = time.monotonic() - started
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "Unrecoverable error" not in log
    assert delivered() == DELIVERIES, (delivered(), took, log[-3000:])
    assert took <= WITHIN_S
    assert len(receiver.ids) == DELIVERIES
    assert not ActionDelivery.objects.filter(status="failed").exists()
    receiver.server.shutdown()
