"""Safe retries against real gunicorn servers: a server killed (SIGKILL) after its write
committed and before its answer left, a client that gave up waiting, and racers with one key
on two server processes (``tests.faulty_wsgi`` puts the fault in)."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from campaigner.models import IdempotentAnswer
from leads.models import Lead
from tests.campaignapi import BASE, make_api
from tests.concurrency import in_threads
from tests.live import gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KEY = "c0ffee00-1111-2222-3333-444455556666"
FAULTY = "tests.faulty_wsgi:application"


def insert(port: int, query: str, *, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """One keyed insertLeadFast of the same lead: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST", f"{BASE}insertLeadFast?{query}&allowDuplicates=true",
            body=json.dumps({"Name": "Jane", "FirstPhone": "0383218199"}),
            headers={"Content-Type": "application/json", "Idempotency-Key": KEY},
        )  # fmt: skip
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def query_of(client: Client) -> str:
    return "&".join(f"{k}={v}" for k, v in make_api(client).ids().items())


def test_a_server_killed_after_the_commit_gives_the_committed_answer_on_retry(
    tmp_path: Path, client: Client
) -> None:
    query = query_of(client)
    with gunicorn(tmp_path, "--workers", "1", app=FAULTY, IDEMPOTENCY_FAULT="crash") as (port, _):
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            insert(port, query)  # the worker dies with the answer unsent
        lead = Lead.objects.get()  # committed
        status, headers, body = insert(port, query)  # answered by the worker started after

    assert status == 200
    assert headers["Idempotent-Replayed"] == "true"
    assert json.loads(body) == {"code": 0, "message": "OK", "leadId": lead.pk, "version": 1,
                                "ignoredFields": []}  # fmt: skip
    assert Lead.objects.count() == 1


def test_a_client_that_gave_up_waiting_gets_the_answer_at_once_on_retry(
    tmp_path: Path, client: Client
) -> None:
    """Every call keeps its slot 3 s after its work (the minimum hold): the client gives up
    after 0.5 s, while its lead is committed. The retry is answered from the kept answer, without
    waiting for the slot."""
    query = query_of(client)
    with gunicorn(tmp_path, CAMPAIGNAPI_CONCURRENCY="1", CAMPAIGNAPI_MIN_CALL_MS="3000") as (
        port,
        _,
    ):
        with pytest.raises(TimeoutError):
            insert(port, query, timeout=0.5)
        started = time.monotonic()
        status, headers, body = insert(port, query)
        took = time.monotonic() - started

    assert status == 200 and headers["Idempotent-Replayed"] == "true"
    assert json.loads(body)["leadId"] == Lead.objects.get().pk
    assert took < 1.5, f"the retry waited {took:.1f} s"


def test_racers_with_one_key_on_two_servers_write_once(tmp_path: Path, client: Client) -> None:
    """Each racer keeps its answer 1 s after its write, so both are past their first look for
    an answer before either commits: only the key's guard stands between them."""
    query = query_of(client)
    env = {"IDEMPOTENCY_FAULT": "slow", "CAMPAIGNAPI_CONCURRENCY": "4"}
    with (
        gunicorn(tmp_path / "a", app=FAULTY, **env) as (port_a, _),
        gunicorn(tmp_path / "b", app=FAULTY, **env) as (port_b, _),
    ):
        answers: list[Any] = in_threads(
            2, lambda i: insert((port_a, port_b)[i], query), together=True
        )

    assert Lead.objects.count() == 1
    assert IdempotentAnswer.objects.count() == 1
    assert [status for status, _, _ in answers] == [200, 200]
    assert answers[0][2] == answers[1][2]
    assert json.loads(answers[0][2])["leadId"] == Lead.objects.get().pk
    assert sorted(h.get("Idempotent-Replayed", "") for _, h, _ in answers) == ["", "true"]
