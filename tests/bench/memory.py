"""Benchmark: a worker's memory over many large calls. 20 consecutive ``insertLeadsFast`` calls
of 100,000 new leads each into the 1,000,000-lead campaign, all into the same gunicorn worker
(1 worker, as deployed otherwise); its resident memory (RSS, read from outside) after each.
Target: after the 20th, within 1.5 x what it was after the first."""

from __future__ import annotations

import json

import psutil

from tests.bench.imports import last_lead_id
from tests.bench.inserts import KEY, delete_leads, seed
from tests.bench.server import gunicorn, post

CALLS, SIZE = 20, 100_000
TARGET_GROWTH = 1.5


def run(existing: int, calls: int = CALLS) -> None:
    print(f"\n== worker memory: {calls} insertLeadsFast calls of {SIZE:,} new leads, one worker")
    allocation = seed(existing)
    campaign = allocation.campaign
    path = (
        f"/servicemanager/rest/CampaignAPI/insertLeadsFast?fTemplateId={campaign.template_id}"
        f"&fCampaignId={campaign.pk}&fAllocationId={allocation.pk}&apiKey={KEY}"
    )
    last = last_lead_id()
    rss: list[float] = []
    with gunicorn(workers=1, threads=4, CAMPAIGNAPI_MIN_CALL_MS="0") as (port, pid):
        worker = psutil.Process(pid)
        for call in range(calls):
            leads = [
                {"Name": f"Memory {j}", "FirstPhone": f"02{call:02d}{j:06d}", "City": "Bench"}
                for j in range(SIZE)
            ]
            status, answer = post(port, path, json.dumps(leads).encode())
            assert status == 200 and answer["code"] == 0, answer
            rss.append(worker.memory_info().rss / 2**20)
            print(f"  call {call + 1:2}: worker RSS {rss[-1]:6.0f} MiB")
    delete_leads(list(campaign.leads.filter(pk__gt=last).values_list("pk", flat=True)))
    growth = rss[-1] / rss[0]
    print(
        f"  after the first {rss[0]:.0f} MiB, after the third {rss[min(2, len(rss) - 1)]:.0f}"
        f" MiB, after the last {rss[-1]:.0f} MiB (max {max(rss):.0f}): {growth:.2f}x"
        f"  (target <= {TARGET_GROWTH}x {'met' if growth <= TARGET_GROWTH else 'MISSED'})"
    )
