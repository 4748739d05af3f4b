"""What only a real server shows (#23): a malformed chunked body is 150 on every lead write
call, and a request whose database connection is lost under it is answered "retry" (109 with
``Retry-After`` on the CampaignAPI, 503 on ``/api/v1/``), not 500. Nothing is written."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from campaigner.locks import LockKey
from tests.campaignapi import BASE, GLOBAL_KEY, make_api
from tests.factories import ApiTokenFactory, DispositionFactory, LeadFactory
from tests.live import gunicorn, raw_exchange
from tests.snapshot import database_rows

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "live-token-of-root-000000000000000"
USED_AT = frozenset({"campaigner_apikey", "campaigner_apitoken"})
WRITES = ["insertLeadFast", "insertLeadsFast", "insertLead", "insertLeads", "updateLeadFast",
          "updateLead"]  # fmt: skip


@pytest.fixture
def server(tmp_path: Path, client: Any) -> Iterator[tuple[int, Any]]:
    api = make_api(client)
    ApiTokenFactory(plain=TOKEN, user__username="root", user__is_superuser=True)
    env = {"CAMPAIGNAPI_MIN_CALL_MS": "0"}
    with gunicorn(tmp_path, "--workers", "1", "--threads", "4", **env) as (port, _):
        yield port, api


def test_a_malformed_chunked_body_is_150_on_every_write_call(server: tuple[int, Any]) -> None:
    port, api = server
    query = (
        f"fTemplateId={api.template.pk}&fCampaignId={api.campaign.pk}"
        f"&fAllocationId={api.allocation.pk}&apiKey={GLOBAL_KEY}"
    )
    before = database_rows(exclude=USED_AT)
    for method in WRITES:
        status, headers, body = raw_exchange(
            port,
            f"POST {BASE}{method}?{query} HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\nzz\r\nxx\r\n0\r\n\r\n".encode(),
        )
        assert (status, headers["content-type"]) == (400, "application/json"), (method, body)
        assert json.loads(body)["code"] == 150, (method, body)
    assert database_rows(exclude=USED_AT) == before


def _terminate_when_waiting(dbname: str) -> int:
    """Wait until a backend of the server waits for a lock, then end it as a restart would;
    its pid."""
    with psycopg.connect(**_admin_params(), autocommit=True) as admin:
        for _ in range(600):
            row = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = "
                "'Lock' AND pid <> pg_backend_pid()",
                [dbname],
            ).fetchone()
            if row:
                admin.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the server's request never waited for the lock")


def _admin_params() -> dict[str, Any]:
    db = connection.settings_dict
    return {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}


def test_a_lost_database_connection_is_answered_retry(server: tuple[int, Any]) -> None:
    port, api = server
    LeadFactory(campaign=api.campaign, allocation=api.allocation, external_id="x")
    DispositionFactory(disposition_set=api.template.disposition_set, name="Sale")
    query = (
        f"fTemplateId={api.template.pk}&fCampaignId={api.campaign.pk}"
        f"&fAllocationId={api.allocation.pk}&apiKey={GLOBAL_KEY}"
    )
    update = json.dumps(
        {"njExternalLeadId": "x", "njDisposition": "Sale", "FirstPhone": "0390000009"}
    ).encode()
    patch = json.dumps({"name": "renamed"}).encode()
    requests = [
        (
            "SELECT pg_advisory_lock(%s, 0)",  # the rate limit's gate: the call queues there
            int(LockKey.RATE_GATE),
            f"POST {BASE}updateLeadFast?{query} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(update)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + update,
        ),
        (
            "SELECT 1 FROM campaigner_campaign WHERE id = %s FOR UPDATE",
            api.campaign.pk,
            f"PATCH /api/v1/campaigns/{api.campaign.pk} HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(patch)}\r\nConnection: close\r\n\r\n".encode()
            + patch,
        ),
    ]
    answers = []
    before = database_rows(exclude=USED_AT)
    for lock, pk, request in requests:
        with psycopg.connect(**_admin_params()) as holder, ThreadPoolExecutor(1) as pool:
            holder.execute(lock, [pk])  # held until this connection ends
            answer = pool.submit(raw_exchange, port, request)
            _terminate_when_waiting(connection.settings_dict["NAME"])
            answers.append(answer.result(timeout=30))
    (status, headers, body), (m_status, m_headers, m_body) = answers
    assert (status, json.loads(body)["code"], headers.get("retry-after")) == (400, 109, "1")
    assert (m_status, m_headers.get("retry-after")) == (503, "1"), m_body
    assert json.loads(m_body)["reason"] == "unavailable"
    assert database_rows(exclude=USED_AT) == before
    # The server carries on: the next call gets a new connection and is done.
    status, _, body = raw_exchange(port, requests[0][2])
    assert (status, json.loads(body)["code"]) == (200, 0), body
