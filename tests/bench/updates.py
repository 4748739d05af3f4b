"""Benchmark: single-lead ``updateLeadFast`` and ``insertLeadFast`` service time through HTTP
(gunicorn, 1 worker, 1 thread) with ``CAMPAIGNAPI_MIN_CALL_MS=0`` on the 1,000,000-lead
benchmark campaign, one client calling back to back. Each update changes a field and sets a
disposition on a random lead; each insert adds a new lead (the inserted leads are deleted
afterwards).

Reported: p50 and p99 of each (update targets <= 5 ms and <= 20 ms), next to the same server's
answer to the cheapest call there is (``getCampaignTemplateList``: key check and one query), the
floor every call pays for HTTP, Django and the key; the ratios say what the update and the
insert themselves cost. The same update and insert are also timed with an ``Idempotency-Key``
(a new key per call: each runs and keeps its answer), and their p50 compared with the calls
without one (target: within 15 %). The calls alternate, so a slow spell of the shared machine
weighs on all alike.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from campaigner.models import Disposition, DispositionSet
from leads.models import Lead
from tests.bench.inserts import KEY, delete_leads, seed
from tests.bench.server import gunicorn, post

CALLS = 2000
WARM = 50
TARGET_P50_MS, TARGET_P99_MS = 5, 20
TARGET_KEYED_RATIO = 1.15


def _time_one(call: Callable[[int], None], i: int) -> float:
    started = time.perf_counter()
    call(i)
    return (time.perf_counter() - started) * 1000


def _quantiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


def run(existing: int) -> None:
    print(f"\n== updateLeadFast, insertLeadFast: single-lead calls on a campaign of {existing:,}"
          " leads")  # fmt: skip
    allocation = seed(existing)
    campaign = allocation.campaign
    dispositions, _ = DispositionSet.objects.get_or_create(name="Bench")
    Disposition.objects.get_or_create(disposition_set=dispositions, name="No Answer")
    campaign.template.disposition_set = dispositions
    campaign.template.save(update_fields=["disposition_set"])
    rng = random.Random(7)
    ids = (
        f"fTemplateId={campaign.template_id}&fCampaignId={campaign.pk}"
        f"&fAllocationId={allocation.pk}"
    )
    update_path = f"/servicemanager/rest/CampaignAPI/updateLeadFast?{ids}&apiKey={KEY}"
    insert_path = f"/servicemanager/rest/CampaignAPI/insertLeadFast?{ids}&apiKey={KEY}"
    list_path = f"/servicemanager/rest/CampaignAPI/getCampaignTemplateList?apiKey={KEY}"
    codes: list[int] = []
    inserted: list[int] = []
    left = Lead.objects.filter(campaign=campaign, external_id__startswith="one-")
    delete_leads(list(left.values_list("pk", flat=True)))  # by an interrupted run

    run_id = f"{time.time_ns():x}"  # keys of an earlier run are still kept for 24 h

    def update(i: int, keyed: bool = False) -> None:
        body = (
            f'{{"njExternalLeadId": "ext-{rng.randrange(existing)}", "FirstPhone": "<No Change>",'
            f' "City": "Bench {i}", "njDisposition": "No Answer"}}'
        )
        key = {"Idempotency-Key": f"{run_id}-u{i}"} if keyed else None
        codes.append(post(port, update_path, body.encode(), key)[1]["code"])

    def insert(i: int, keyed: bool = False) -> None:
        n = 2 * i + keyed  # a number of its own for each call
        body = f'{{"Name": "Single {n}", "FirstPhone": "06{n:08d}", "njExternalLeadId": "one-{n}"}}'
        key = {"Idempotency-Key": f"{run_id}-i{i}"} if keyed else None
        answer = post(port, insert_path, body.encode(), key)[1]
        codes.append(answer["code"])
        if "leadId" in answer:
            inserted.append(answer["leadId"])

    def floor(_: int) -> None:
        post(port, list_path, b"")

    update_times: list[float] = []
    insert_times: list[float] = []
    floor_times: list[float] = []
    keyed_update_times: list[float] = []
    keyed_insert_times: list[float] = []

    def each(i: int) -> None:
        # Interleaved, so that the shared machine's slow spells hit every series alike.
        update_times.append(_time_one(update, i))
        keyed_update_times.append(_time_one(lambda i: update(i, keyed=True), i))
        insert_times.append(_time_one(insert, i))
        keyed_insert_times.append(_time_one(lambda i: insert(i, keyed=True), i))
        floor_times.append(_time_one(floor, i))

    all_times = (update_times, insert_times, floor_times, keyed_update_times, keyed_insert_times)
    with gunicorn(workers=1, threads=1, CAMPAIGNAPI_MIN_CALL_MS="0") as (port, _):
        for i in range(WARM):
            each(i)
        for times in all_times:
            times.clear()
        for i in range(WARM, WARM + CALLS):
            each(i)
    delete_leads(inserted)
    assert set(codes) == {0}, f"codes {sorted(set(codes))}"
    p50, p99 = _quantiles(update_times)
    floor50, floor99 = _quantiles(floor_times)
    print(f"  updateLeadFast, {CALLS} calls: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
          f"  (targets p50 <= {TARGET_P50_MS} ms {'met' if p50 <= TARGET_P50_MS else 'MISSED'},"
          f" p99 <= {TARGET_P99_MS} ms {'met' if p99 <= TARGET_P99_MS else 'MISSED'})")  # fmt: skip
    insert50, insert99 = _quantiles(insert_times)
    print(f"  insertLeadFast, {CALLS} calls: p50 {insert50:.2f} ms, p99 {insert99:.2f} ms")
    series = (("updates", update_times), ("inserts", insert_times), ("floor calls", floor_times))
    for name, times in series:
        slow = ", ".join(f"{t:.0f}" for t in sorted(times)[-5:])
        print(f"  slowest five {name}: {slow} ms;"
              f" over 20 ms: {sum(t > 20 for t in times)} of {CALLS}")  # fmt: skip
    print(f"  floor (getCampaignTemplateList): p50 {floor50:.2f} ms, p99 {floor99:.2f} ms;"
          f" p50 ratio to the floor: update {p50 / floor50:.1f}x,"
          f" insert {insert50 / floor50:.1f}x")  # fmt: skip
    for name, plain50, times in (("updateLeadFast", p50, keyed_update_times),
                                 ("insertLeadFast", insert50, keyed_insert_times)):  # fmt: skip
        keyed50, keyed99 = _quantiles(times)
        ratio = keyed50 / plain50
        verdict = "met" if ratio <= TARGET_KEYED_RATIO else "MISSED"
        print(f"  {name} with an Idempotency-Key: p50 {keyed50:.2f} ms, p99 {keyed99:.2f} ms;"
              f" p50 {ratio:.3f}x the call without one"
              f" (target <= {TARGET_KEYED_RATIO}: {verdict})")  # fmt: skip
