"""8 concurrent hand-out callers, as threads and as separate processes, never receive the same
lead, and together hand out every cached lead exactly once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections

from campaigner.models import Campaign
from dialer.services import dialer_cache_refresh, dialer_lead_next
from tests.concurrency import in_threads
from tests.dialer.conftest import allocation, make_lead

CALLERS = 8
LEADS = 120

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cached(campaign: Campaign) -> Campaign:
    main = allocation(campaign)
    for _ in range(LEADS):
        make_lead(main)
    assert dialer_cache_refresh(campaign.pk) is not None
    return campaign


@pytest.fixture
def slow_check_out() -> Iterator[None]:
    """Hold each hand-out 20 ms between taking an entry and checking its lead out, so callers
    overlap inside the critical step: ``pg_sleep`` injected into the database function through
    a trigger on the lead update (dropped afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION slow_check_out() RETURNS trigger AS $$"
            " BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$ LANGUAGE plpgsql;"
            " CREATE TRIGGER slow_check_out BEFORE UPDATE ON leads_lead"
            " FOR EACH ROW EXECUTE FUNCTION slow_check_out()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER slow_check_out ON leads_lead; DROP FUNCTION slow_check_out()")


def drain(campaign_id: int, agent: str) -> list[int]:
    handed = []
    while (lead := dialer_lead_next(campaign_id, agent)) is not None:
        handed.append(lead.lead_id)
    return handed


def test_threads_never_get_the_same_lead(cached: Campaign, slow_check_out: None) -> None:
    results = in_threads(CALLERS, lambda i: drain(cached.pk, f"agent {i}"), together=True)

    handed = [lead_id for result in results for lead_id in result]
    assert len(handed) == len(set(handed)) == LEADS
    assert sum(1 for result in results if result) > 1  # they really shared the work


def _caller_process(campaign_id: int, start: Any, out: Any) -> None:
    start.wait()
    out.put(drain(campaign_id, "process"))
    connections.close_all()


def test_processes_never_get_the_same_lead(cached: Campaign, slow_check_out: None) -> None:
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    connections.close_all()  # children open their own connections
    processes = [
        context.Process(target=_caller_process, args=(cached.pk, start, out))
        for _ in range(CALLERS)
    ]
    for process in processes:
        process.start()
    start.set()
    results = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    assert [p.exitcode for p in processes] == [0] * CALLERS
    handed = [lead_id for result in results for lead_id in result]
    assert len(handed) == len(set(handed)) == LEADS
    assert sum(1 for result in results if result) > 1
