"""Benchmark of the rate limiter (campaignapi.md §7).

1. Overhead per call with the minimum hold at 0: the whole time of ``run_limited`` around an
   empty function, in this process (target: <= 1 ms).
2. Throughput of single-lead ``insertLeadFast`` calls through gunicorn at concurrency 1 with the
   default 100 ms hold, from 8 client threads (should be ~10 calls/s: the hold is the limit).
"""

from __future__ import annotations

import statistics
import threading
import time

from django.test import override_settings

from campaigner import ratelimit
from tests.bench.inserts import KEY, delete_leads, seed
from tests.bench.server import gunicorn, post

CALLS = 500
HTTP_CALLS = 60
CLIENTS = 8


def overhead() -> None:
    with override_settings(CAMPAIGNAPI_MIN_CALL_MS=0):
        for _ in range(20):  # warm: executor thread, its connection
            ratelimit.run_limited(lambda: None, bulk=False)
        limited = []
        for _ in range(CALLS):
            started = time.perf_counter()
            ratelimit.run_limited(lambda: None, bulk=False)
            limited.append(time.perf_counter() - started)
    per_call = statistics.mean(limited)
    p50, p99 = (statistics.quantiles(limited, n=100)[i] * 1000 for i in (49, 98))
    print(f"  limiter overhead, hold 0, {CALLS} calls: mean {per_call * 1000:.3f} ms"
          f" (p50 {p50:.3f} ms, p99 {p99:.3f} ms)"
          f"  target <= 1 ms {'met' if per_call <= 0.001 else 'MISSED'}")  # fmt: skip


def throughput(existing: int) -> None:
    allocation = seed(existing)
    campaign = allocation.campaign
    lead_ids: list[int] = []
    codes: list[int] = []
    settings = {"CAMPAIGNAPI_CONCURRENCY": "1", "CAMPAIGNAPI_MIN_CALL_MS": "100"}
    with gunicorn(workers=2, threads=4, **settings) as (port, _):
        path = (
            "/servicemanager/rest/CampaignAPI/insertLeadFast?"
            f"fTemplateId={campaign.template_id}&fCampaignId={campaign.pk}"
            f"&fAllocationId={allocation.pk}&apiKey={KEY}"
        )
        for i in range(4):  # warm both workers: imports, connections, executor threads
            lead_ids.append(
                post(port, path, f'{{"FirstPhone": "0699{i:06d}"}}'.encode())[1]["leadId"]
            )
        next_call = iter(range(HTTP_CALLS))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    i = next(next_call, None)
                if i is None:
                    return
                body = f'{{"FirstPhone": "06{i:08d}"}}'.encode()
                _, payload = post(port, path, body)
                with lock:
                    codes.append(payload["code"])
                    if "leadId" in payload:
                        lead_ids.append(payload["leadId"])

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    delete_leads(lead_ids)
    ok = codes.count(0)
    print(f"  insertLeadFast at concurrency 1, 100 ms hold, {CLIENTS} clients, 2 gunicorn workers:"
          f" {HTTP_CALLS} calls in {elapsed:.2f} s = {HTTP_CALLS / elapsed:.1f} calls/s"
          f" ({ok} code 0; expected ~10 calls/s)")  # fmt: skip


def run(existing: int) -> None:
    print("\n== rate limiter")
    overhead()
    throughput(existing)
