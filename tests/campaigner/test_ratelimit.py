"""The server's own rate limit (campaignapi.md §7), with real threads and real processes."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from campaigner import ratelimit
from campaigner.contract import CampaignApiError
from campaigner.locks import LockKey
from leads.models import Lead
from leads.services import lead_insert
from tests.campaignapi import Api, make_api
from tests.concurrency import in_threads
from tests.factories import AllocationFactory, CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(client: Client) -> Api:
    return make_api(client)


def record_work(monkeypatch: pytest.MonkeyPatch, hold_s: float = 0.0) -> list[tuple[float, float]]:
    """Record (start, end) of every insert's service call, as the server runs it."""
    spans: list[tuple[float, float]] = []
    original = lead_insert.lead_insert_batch

    def recording(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            time.sleep(hold_s)
            return original(*args, **kwargs)
        finally:
            spans.append((start, time.monotonic()))

    monkeypatch.setattr("leads.api.lead_insert_batch", recording)
    return spans


def insert(api: Api, phone: str, method: str = "insertLeadFast", **params: Any) -> Any:
    racer = Api(Client(), api.template, api.campaign, api.allocation, api.key)
    return racer.post(method, {"FirstPhone": phone}, **params)


def test_concurrency_1_with_100ms_hold_runs_calls_one_at_a_time(
    api: Api, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CAMPAIGNAPI_CONCURRENCY = 1
    settings.CAMPAIGNAPI_MIN_CALL_MS = 100
    spans = record_work(monkeypatch)
    started = time.monotonic()

    responses = in_threads(10, lambda i: insert(api, f"04000000{i:02d}"))

    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 10
    assert len(spans) == 10
    spans.sort()
    for (_, previous_end), (start, _) in itertools.pairwise(spans):
        assert start >= previous_end, "two calls ran at once"
    # Each call held the only slot for at least 100 ms.
    assert all(b[0] - a[0] >= 0.099 for a, b in itertools.pairwise(spans))
    assert elapsed >= 1.0


def test_a_single_call_never_completes_in_under_the_minimum_hold(api: Api, settings: Any) -> None:
    settings.CAMPAIGNAPI_MIN_CALL_MS = 150
    started = time.monotonic()
    assert insert(api, "0400000001").status_code == 200
    assert time.monotonic() - started >= 0.15


def _worker_process(limit: int, calls: int, current: Any, peak: Any, lock: Any) -> None:
    from django.conf import settings

    settings.CAMPAIGNAPI_CONCURRENCY = limit
    settings.CAMPAIGNAPI_MIN_CALL_MS = 0

    def work() -> None:
        with lock:
            current.value += 1
            peak.value = max(peak.value, current.value)
        time.sleep(0.05)
        with lock:
            current.value -= 1

    def call(_: int) -> None:
        ratelimit.run_limited(work, bulk=False)

    in_threads(calls, call)


@pytest.mark.parametrize("limit", [1, 2])
def test_the_limit_holds_across_processes(limit: int) -> None:
    """Two processes with their own connections: together they never exceed the limit, and
    they do reach it."""
    context = multiprocessing.get_context("fork")
    current, peak, lock = context.Value("i", 0), context.Value("i", 0), context.Lock()
    connections.close_all()  # children must open their own connections
    processes = [
        context.Process(target=_worker_process, args=(limit, 4, current, peak, lock))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    assert peak.value == limit


def test_a_flood_past_the_queue_bound_gets_109_and_109_never_writes(
    api: Api, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CAMPAIGNAPI_CONCURRENCY = 1
    settings.CAMPAIGNAPI_MIN_CALL_MS = 250
    settings.CAMPAIGNAPI_QUEUE_TIMEOUT_S = 1

    responses = in_threads(10, lambda i: insert(api, f"04000000{i:02d}"))

    codes = [r.json()["code"] for r in responses]
    assert 0 in codes and 109 in codes
    assert set(codes) == {0, 109}
    for response in responses:
        if response.json()["code"] == 109:
            assert response.status_code == 400
            assert response.json()["message"] == "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS"
            assert response["Retry-After"] == "30"
    # Wait past every deadline: a 109'd call must not run late.
    time.sleep(1.5)
    written = set(Lead.objects.values_list("fields__FirstPhone", flat=True))
    for i, code in enumerate(codes):
        assert (f"04000000{i:02d}" in written) == (code == 0), (i, code)


def test_queued_calls_are_granted_in_arrival_order_within_a_process(
    api: Api, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CAMPAIGNAPI_CONCURRENCY = 1
    settings.CAMPAIGNAPI_MIN_CALL_MS = 100
    order: list[int] = []
    original = lead_insert.lead_insert_batch

    def tagging(target: Any, leads: Any, **kwargs: Any) -> Any:
        order.append(int(leads[0]["FirstPhone"][-2:]))
        return original(target, leads, **kwargs)

    insert(api, "0499999999")  # warm up: the first call of a process does one-off work
    monkeypatch.setattr("leads.api.lead_insert_batch", tagging)
    # Arrivals 80 ms apart, each call held 100 ms: from the second on, every call queues. (At
    # 40 ms apart a busy machine once delayed one thread's request past the next one's.)
    in_threads(8, lambda i: insert(api, f"04000000{i:02d}"), stagger_s=0.08)
    assert order == list(range(8))


def _gate_process(index: int, start_at: float, grants: Any) -> None:
    from django.conf import settings

    settings.CAMPAIGNAPI_CONCURRENCY = 1
    settings.CAMPAIGNAPI_MIN_CALL_MS = 100
    time.sleep(max(0.0, start_at - time.monotonic()))
    ratelimit.run_limited(lambda: grants.put((index, time.monotonic())), bulk=False)
    connection.close()


def test_the_gate_grants_in_arrival_order_across_processes() -> None:
    """Six processes queue one after another behind a busy slot; the database-side gate lets
    them in in the order they arrived, not in whichever order their polls happen to hit."""
    context = multiprocessing.get_context("fork")
    grants = context.Queue()
    connections.close_all()
    base = time.monotonic() + 0.5
    processes = [
        context.Process(target=_gate_process, args=(i, base + 0.04 * i, grants)) for i in range(6)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    granted = sorted((grants.get(timeout=5) for _ in processes), key=lambda g: g[1])
    assert [index for index, _ in granted] == list(range(6))


def test_an_import_hold_makes_inserts_into_that_campaign_wait_then_109(
    api: Api, settings: Any
) -> None:
    settings.CAMPAIGNAPI_QUEUE_TIMEOUT_S = 1
    other = AllocationFactory(campaign=CampaignFactory(template=api.template))
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        try:
            with ratelimit.campaign_import_hold(api.campaign.pk):
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    try:
        started = time.monotonic()
        held = insert(api, "0400000001")
        held_for = time.monotonic() - started
        started = time.monotonic()
        free = insert(api, "0400000002", fCampaignId=other.campaign.pk, fAllocationId=other.pk)
        free_for = time.monotonic() - started
    finally:
        release.set()
        holder.join()

    assert held.json()["code"] == 109 and held.status_code == 400
    assert held_for >= 1.0
    assert free.json()["code"] == 0
    assert free_for < 0.5
    assert not Lead.objects.filter(campaign=api.campaign).exists()
    assert insert(api, "0400000001").json()["code"] == 0  # the hold is gone


def test_a_109_before_the_work_leaves_no_slot_or_gate_behind(settings: Any) -> None:
    settings.CAMPAIGNAPI_CONCURRENCY = 1
    settings.CAMPAIGNAPI_QUEUE_TIMEOUT_S = 0.3
    release = threading.Event()
    holding = threading.Event()

    def slow_call(_: int) -> Any:
        def work() -> None:
            holding.set()
            release.wait(5)

        return ratelimit.run_limited(work, bulk=False)

    holder = threading.Thread(target=in_threads, args=(1, slow_call))
    holder.start()
    assert holding.wait(5)
    ran = []
    with pytest.raises(CampaignApiError) as raised:
        ratelimit.run_limited(lambda: ran.append(1), bulk=False)
    assert raised.value.code == 109
    release.set()
    holder.join()
    assert ran == []
    assert ratelimit.run_limited(lambda: "ok", bulk=False) == "ok"


def test_the_import_hold_is_held_by_the_connection_that_does_the_work() -> None:
    """An insert's shared import hold and its work are one database session: a call whose
    connection dies loses both at once, so it can never commit without the hold."""
    campaign = CampaignFactory()
    seen: dict[str, Any] = {}

    def work() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            seen["worker"] = cursor.fetchone()[0]
            cursor.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
                " AND objid = %s AND objsubid = 2 AND mode = 'ShareLock' AND granted",
                [int(LockKey.CAMPAIGN_IMPORT_HOLD), campaign.pk],
            )
            seen["holders"] = [row[0] for row in cursor.fetchall()]

    ratelimit.run_limited(work, bulk=False, campaign_id=campaign.pk)
    assert seen["holders"] == [seen["worker"]]
