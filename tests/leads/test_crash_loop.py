"""Kill -9 of the worker serving a large batch, at random moments, round after round (hardening
#13): a batch is in the database whole or not at all, and the next calls succeed."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.db import connection

from leads.models import Lead, LeadPhone
from tests.campaignapi import BASE, make_api
from tests.live import gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROUNDS = 10
BATCH = 20_000


def post(port: int, path: str, body: bytes, answers: list[Any]) -> None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answers.append((response.status, json.loads(response.read())))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        answers.append(exc)  # the worker died under the call


def settled() -> None:
    """Wait until the killed worker's database sessions are gone: PostgreSQL finishes (or rolls
    back) what a session was running when its client died, so a batch it was committing can
    land a moment after the kill. Counting before that raced with it."""
    deadline = time.monotonic() + 60
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the killed worker's database sessions did not finish in 60 s")


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = psutil.Process(master).children()
        if children:
            return int(children[0].pid)
        time.sleep(0.1)
    raise AssertionError("gunicorn started no worker")


def test_killing_the_worker_mid_batch_never_leaves_part_of_a_batch(
    tmp_path: Path, client: Any
) -> None:
    api = make_api(client)
    query = "&".join(f"{k}={v}" for k, v in api.ids().items())
    rng = random.Random(13)
    env = {"CAMPAIGNAPI_MIN_CALL_MS": "0"}
    with gunicorn(tmp_path, "--workers", "1", "--threads", "2", "--timeout", "120", **env) as (
        port,
        master,
    ):
        outcomes = []
        for n in range(ROUNDS):
            batch = [{"FirstPhone": f"04{n:02d}{i:06d}", "Name": f"r{n}"} for i in range(BATCH)]
            body = json.dumps(batch).encode()
            before = Lead.objects.count()
            answers: list[Any] = []
            worker = worker_pid(master)
            call = threading.Thread(target=post, args=(port, f"{BASE}insertLeadsFast?{query}",
                                                       body, answers))  # fmt: skip
            call.start()
            time.sleep(rng.uniform(0.05, 1.5))
            os.kill(worker, signal.SIGKILL)
            call.join(timeout=120)
            settled()
            written = Lead.objects.filter(fields__Name=f"r{n}").count()
            assert written in (0, BATCH), (n, written)  # whole or nothing
            assert Lead.objects.count() == before + written
            assert LeadPhone.objects.filter(number__startswith=f"+614{n:02d}").count() == written
            outcomes.append("whole" if written else "nothing")
            # The restarted worker takes the next call at once, and no lock was left behind.
            worker_pid(master)
            answer: list[Any] = []
            post(port, f"{BASE}insertLeadFast?{query}",
                 json.dumps({"FirstPhone": f"05{n:08d}"}).encode(), answer)  # fmt: skip
            assert answer and answer[0][1]["code"] == 0, answer
    print("crash loop outcomes:", outcomes)
    assert "nothing" in outcomes  # the kills did land mid-batch
