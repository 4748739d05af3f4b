"""Benchmark: one ``insertLeadsFast`` call of 100,000 leads into a campaign of 1,000,000 leads
with a DNC list of 100,000 numbers, through the real HTTP stack (gunicorn), alternating with a
bare psycopg pipeline (``bare.py``, the database's pace) and once against a deliberately naive
ORM implementation (per-lead ``exists()`` checks and saves) on the same batch from the same
starting state. All must give the same per-lead codes. Then the stages of the server's call,
and the curve of its throughput against the campaign's and the DNC list's size.

Batch mix (seeded, so every run sends the same batch): ~10% phones already in the campaign,
~5% DNC, ~1% in-batch duplicates, ~1% taken external ids, ~0.5% unusable numbers.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from campaigner.api.base import OrjsonRenderer, body_read, json_parse
from campaigner.contract import CampaignApiError, Code
from campaigner.memory import cyclic_gc_paused
from campaigner.models import Allocation, ApiKey, Campaign, CampaignTemplate, TemplateField
from campaigner.sql import call_target_of
from leads.models import (
    ActionDelivery,
    CallRecord,
    DeliveryAttempt,
    DispositionRecord,
    DncEntry,
    Door,
    Lead,
    LeadPhone,
)
from leads.selectors import phone_normaliser_load
from leads.services import lead_insert
from leads.services.lead_insert import NewOrigin
from tests.bench.bare import bare_insert
from tests.bench.server import gunicorn, peak_rss_mb, post
from tests.bench.setup import settle

KEY = "bench-key-00000000000000000000"
FIELDS = ["Name", "StreetAddress", "City", "State", "PostCode", "FirstPhone", "SecondPhone"]
TARGET_RATE, TARGET_RATIO, TARGET_BARE_RATIO, TARGET_RSS_MB = 45_000, 20, 0.9, 400
PAIRS = 5
HEADLINE_DNC = 100_000  # the DNC list of the headline run (the other benchmarks see 1,000,000)


def existing_number(i: int) -> str:
    """The number of existing lead ``i`` as a vendor sends it (stored as ``+613…``)."""
    return f"03{i:08d}"


def dnc_number(i: int) -> str:
    """DNC number ``i`` as a vendor sends it (stored as ``+614…``)."""
    return f"04{i:08d}"


def stored(number: str) -> str:
    """A bench number (national, ``0`` and nine digits) as the server stores it: E.164."""
    return "+61" + number[1:]


# --- seeding ----------------------------------------------------------------------------------


def seed(existing: int, dnc: int | None = None) -> Allocation:
    """The benchmark campaign with ``existing`` leads (reused if there) and at least ``dnc``
    (default: ``existing``) DNC numbers."""
    dnc = existing if dnc is None else dnc
    template, _ = CampaignTemplate.objects.get_or_create(name="Bench")
    for position, name in enumerate(FIELDS):
        TemplateField.objects.get_or_create(
            template=template, name=name,
            defaults={"is_phone": name.endswith("Phone"), "position": position},
        )  # fmt: skip
    campaign, _ = Campaign.objects.get_or_create(name=f"bench-{existing}", template=template)
    allocation, _ = Allocation.objects.get_or_create(campaign=campaign, name="main", started=True)
    key = ApiKey(name="bench")
    key.set_key(KEY)
    ApiKey.objects.filter(name="bench").delete()
    key.save()
    seeded = (
        Lead.objects.filter(campaign=campaign).count() == existing
        and LeadPhone.objects.filter(campaign=campaign).count() == existing
        and DncEntry.objects.filter(source="bench").count() >= dnc
        # Seeded before numbers were stored in E.164: seeded again.
        and LeadPhone.objects.filter(campaign=campaign, number__startswith="+").exists()
        and not DncEntry.objects.filter(source="bench").exclude(number__startswith="+").exists()
    )
    if seeded:
        print(f"  reusing the seeded campaign of {existing:,} leads")
        return allocation
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # A half-seeded campaign (an interrupted run) is cleared in SQL: the ORM's cascade
        # would collect a million ids into one query, over PostgreSQL's parameter limit.
        leads = f"SELECT id FROM {Lead._meta.db_table} WHERE campaign_id = %s"
        delete_history(cursor, leads, [campaign.pk])
        for model in (LeadPhone, Lead):
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE campaign_id = %s", [campaign.pk]
            )
        cursor.execute(
            f"""INSERT INTO {Lead._meta.db_table} (campaign_id, allocation_id, fields, external_id,
                priority, closed, version, checked_out_by, created_at, updated_at)
            SELECT %s, %s, jsonb_build_object('Name', 'Person ' || i,
                       'FirstPhone', '03' || lpad(i::text, 8, '0')),
                   'ext-' || i, i %% 20, false, 1, '', now(), now()
            FROM generate_series(0, %s - 1) AS i""",
            [campaign.pk, allocation.pk, existing],
        )
        cursor.execute(
            f"""INSERT INTO {LeadPhone._meta.db_table} (lead_id, campaign_id, field_name, number,
                blocked)
            SELECT id, campaign_id, 'FirstPhone', '+61' || substr(fields->>'FirstPhone', 2), false
            FROM {Lead._meta.db_table} WHERE campaign_id = %s""",
            [campaign.pk],
        )
        cursor.execute(  # an older seed's national spellings
            f"DELETE FROM {DncEntry._meta.db_table}"
            " WHERE source = 'bench' AND number NOT LIKE '+%%'"
        )
        dnc_fill(cursor, dnc)
        cursor.execute("ANALYZE")
    print(f"  seeded {existing:,} leads and DNC numbers in {time.perf_counter() - started:.0f} s")
    return allocation


def dnc_fill(cursor: Any, count: int) -> None:
    """The bench DNC numbers ``dnc_number(0 .. count - 1)``, those missing added."""
    cursor.execute(
        f"""INSERT INTO {DncEntry._meta.db_table} (number, source, note, created_at)
        SELECT '+614' || lpad(i::text, 8, '0'), 'bench', '', now()
        FROM generate_series(0, %s - 1) AS i ON CONFLICT (number) DO NOTHING""",
        [count],
    )


@contextmanager
def dnc_list(size: int) -> Iterator[None]:
    """The bench DNC list cut to its first ``size`` numbers for the block, then filled back to
    1,000,000 (the other benchmarks' list)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DncEntry._meta.db_table} WHERE source = 'bench' AND number > %s",
            [stored(dnc_number(size - 1))],
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            dnc_fill(cursor, 1_000_000)


def make_batch(size: int, existing: int, dnc: int | None = None) -> list[dict[str, Any]]:
    dnc = existing if dnc is None else dnc
    rng = random.Random(20261123)
    batch: list[dict[str, Any]] = []
    for i in range(size):
        lead: dict[str, Any] = {
            "Name": f"New lead {i}", "StreetAddress": "Suite 8/10 Hoddle St",
            "City": "Abbotsford", "State": "Vic", "PostCode": "3064",
            "FirstPhone": f"02 {i // 10_000:04d} {i % 10_000:04d}", "njExternalLeadId": f"new-{i}",
        }  # fmt: skip
        roll = rng.random()
        if roll < 0.10:
            if existing:  # (an empty campaign: a new number)
                lead["FirstPhone"] = existing_number(rng.randrange(existing))
        elif roll < 0.15:
            lead["FirstPhone"] = dnc_number(rng.randrange(dnc))
        elif roll < 0.16 and batch:
            lead["FirstPhone"] = batch[rng.randrange(len(batch))]["FirstPhone"]
        elif roll < 0.17:
            if existing:
                lead["njExternalLeadId"] = f"ext-{rng.randrange(existing)}"
        elif roll < 0.175:
            lead["FirstPhone"] = "12-ab"
        batch.append(lead)
    return batch


# --- the real path, over HTTP -------------------------------------------------------------------


def real_path(allocation: Allocation, body: bytes) -> tuple[float, list[int], list[int], float]:
    """Seconds, per-lead codes, inserted lead ids and the server worker's peak RSS (MB)."""
    campaign = allocation.campaign
    path = (
        "/servicemanager/rest/CampaignAPI/insertLeadsFast?"
        f"fTemplateId={campaign.template_id}&fCampaignId={campaign.pk}"
        f"&fAllocationId={allocation.pk}&apiKey={KEY}"
    )
    with gunicorn(workers=1) as (port, worker):
        post(port, path, b"[]")  # warm the worker (imports, connection) without writing
        started = time.perf_counter()
        status, payload = post(port, path, body)
        elapsed = time.perf_counter() - started
        assert status == 200, payload
        peak_mb = peak_rss_mb(worker)
    codes = [r["code"] for r in payload["results"]]
    ids = [r["leadId"] for r in payload["results"] if "leadId" in r]
    return elapsed, codes, ids, peak_mb


def delete_history(cursor: Any, leads: str, params: list[Any]) -> None:
    """Delete what refers to the leads the query ``leads`` selects: their webhook and email
    deliveries (and attempts), their call records and their disposition records."""
    deliveries = f"SELECT id FROM {ActionDelivery._meta.db_table} WHERE lead_id IN ({leads})"
    cursor.execute(
        f"DELETE FROM {DeliveryAttempt._meta.db_table} WHERE delivery_id IN ({deliveries})",
        params,
    )
    for model in (ActionDelivery, CallRecord, DispositionRecord):
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE lead_id IN ({leads})", params)


def delete_leads(ids: list[int]) -> None:
    """Remove the leads a run inserted, and settle the database, so every run starts from the
    same state."""
    with connection.cursor() as cursor:
        delete_history(cursor, "SELECT unnest(%s::bigint[])", [ids])
        cursor.execute(
            f"DELETE FROM {LeadPhone._meta.db_table} WHERE lead_id = ANY(%s)",
            [ids],
        )
        cursor.execute(f"DELETE FROM {Lead._meta.db_table} WHERE id = ANY(%s)", [ids])
    settle()


# --- the naive baseline -------------------------------------------------------------------------


def naive_insert(allocation: Allocation, batch: list[dict[str, Any]]) -> list[int]:
    """What a first ORM version looks like: per lead, ``exists()`` per check and a save per row.
    It reuses the pure per-lead reading of the real service, so only the database work differs.
    Runs in one transaction that is rolled back, leaving the seeded state as it was."""
    target = call_target_of(allocation)
    normalise = phone_normaliser_load()
    codes = []
    today = timezone.now().date()  # the DB compares with CURRENT_DATE in UTC
    with transaction.atomic():
        for index, raw in enumerate(batch):
            try:
                lead = lead_insert._read(index, raw, target, normalise)
            except CampaignApiError as rejected:
                codes.append(int(rejected.code))
                continue
            campaign = allocation.campaign
            numbers = [n for _, n in lead.numbers]
            if (
                lead.external_id
                and Lead.objects.filter(campaign=campaign, external_id=lead.external_id).exists()
            ):
                codes.append(int(Code.DUPLICATE_EXTERNAL_ID))
                continue
            dnc = [
                DncEntry.objects.filter(number=n).exclude(expires_on__lte=today).exists()
                for n in numbers
            ]
            if all(dnc):
                codes.append(int(Code.DNC))
                continue
            if any(LeadPhone.objects.filter(campaign=campaign, number=n).exists() for n in numbers):
                codes.append(int(Code.DUPLICATE))
                continue
            saved = Lead.objects.create(
                campaign=campaign, allocation=allocation, fields=lead.fields,
                external_id=lead.external_id, priority=lead.priority,
                callback_at=lead.callback_at, contact_hours_id=lead.contact_hours_id,
            )  # fmt: skip
            for (name, number), blocked in zip(lead.numbers, dnc, strict=True):
                LeadPhone.objects.create(
                    lead=saved, campaign=campaign, field_name=name, number=number, blocked=blocked
                )
            codes.append(int(Code.OK))
        transaction.set_rollback(True)
    return codes


# --- report ---------------------------------------------------------------------------------------


def run(batch_size: int, existing: int, naive: bool = True, curve: bool = True) -> None:
    db = settings.DATABASES["default"]
    where = f"{db['NAME']} on {db['HOST'] or 'localhost'}"
    dnc = HEADLINE_DNC
    print(f"\n== insertLeadsFast: {batch_size:,} leads into a campaign of {existing:,} leads "
          f"with {dnc:,} DNC numbers ({where}); the server (HTTP, gunicorn, 1 worker) and "
          f"the bare psycopg pipeline alternately, {PAIRS} times each, each on a settled "
          "database")  # fmt: skip
    allocation = seed(existing, dnc=1_000_000)
    with dnc_list(dnc):
        compared(allocation, batch_size, existing, dnc, naive)
    if curve:
        growth_curve(batch_size)


def compared(allocation: Allocation, batch_size: int, existing: int, dnc: int, naive: bool) -> None:
    """The server against the bare pipeline (alternately) and the naive baseline, then the
    server's stage timings, on the same batch."""
    batch = make_batch(batch_size, existing, dnc)
    body = json.dumps(batch).encode()
    print(f"  batch body: {len(body) / 2**20:.1f} MiB")

    server_s, bare_s, peaks = [], [], []
    codes: dict[str, list[int]] = {}
    settle()  # after each run, delete_leads settles again
    for pair in range(1, PAIRS + 1):
        for side in ("server", "bare") if pair % 2 else ("bare", "server"):
            if side == "server":
                seconds, side_codes, ids, peak_mb = real_path(allocation, body)
                server_s.append(seconds)
                peaks.append(peak_mb)
            else:
                seconds, side_codes, ids = bare_insert(
                    allocation.campaign_id, allocation.pk, body, FIELDS
                )
                bare_s.append(seconds)
            delete_leads(ids)
            if codes.setdefault(side, side_codes) != side_codes:
                raise SystemExit(f"the {side} gave other codes on pair {pair}")
        print(f"  pair {pair}: server {server_s[-1]:6.2f} s {batch_size / server_s[-1]:8,.0f}"
              f" leads/s   bare {bare_s[-1]:6.2f} s {batch_size / bare_s[-1]:8,.0f} leads/s"
              f"   ratio {bare_s[-1] / server_s[-1]:.2f}")  # fmt: skip
    real_rate = batch_size / statistics.median(server_s)
    ratio = statistics.median(bare_s) / statistics.median(server_s)  # of the throughputs
    real_codes = codes["server"]
    counts = {code: real_codes.count(code) for code in sorted(set(real_codes))}
    print(f"  codes: {', '.join(f'{Code(c).message} {n:,}' for c, n in counts.items())}")
    bare_rate = batch_size / statistics.median(bare_s)
    print(f"  median: server {real_rate:,.0f} leads/s, bare {bare_rate:,.0f} leads/s;"
          f" ratio of the medians {ratio:.2f}; same per-lead codes as the bare pipeline:"
          f" {real_codes == codes['bare']}")  # fmt: skip
    print(f"  server worker peak RSS (VmHWM): {max(peaks):.0f} MB")
    verdicts = [
        (f">= {TARGET_RATE:,} leads/s", real_rate >= TARGET_RATE),
        (f">= {TARGET_BARE_RATIO}x the bare pipeline", ratio >= TARGET_BARE_RATIO),
        (f"< {TARGET_RSS_MB} MB peak", max(peaks) < TARGET_RSS_MB),
    ]
    if naive:
        started = time.perf_counter()
        naive_codes = naive_insert(allocation, batch)
        naive_s = time.perf_counter() - started
        same = real_codes == naive_codes
        faster = naive_s / statistics.median(server_s)
        print(f"  naive ORM baseline (in process): {naive_s:7.2f} s"
              f" {batch_size / naive_s:9,.0f} leads/s; the server is {faster:.1f}x faster;"
              f" same codes: {same}")  # fmt: skip
        verdicts.append((f">= {TARGET_RATIO}x naive", faster >= TARGET_RATIO))
        if not same:
            first = first_difference(real_codes, naive_codes)
            raise SystemExit(f"per-lead codes differ, first at lead {first}: {batch[first]}")
    print("  targets: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in verdicts))
    if real_codes != codes["bare"]:
        first = first_difference(real_codes, codes["bare"])
        raise SystemExit(f"server and bare codes differ, first at lead {first}: {batch[first]}")
    stage_timings(allocation, body)
    number_reading(batch)


def number_reading(batch: list[dict[str, Any]]) -> None:
    """What reading the batch's numbers in the region's numbering plan (E.164) costs, against
    the cleaning alone (the rule before it), in this run: best of three passes each."""
    from django.conf import settings

    from leads.phone import PhoneNormaliser

    numbers = [lead["FirstPhone"] for lead in batch]
    costs = {}
    for label, normalise in (
        ("cleaned only", PhoneNormaliser()),
        ("E.164", PhoneNormaliser(region=settings.PHONE_DEFAULT_REGION)),
    ):
        passes = []
        for _ in range(3):
            started = time.perf_counter()
            for number in numbers:
                normalise(number)
            passes.append(time.perf_counter() - started)
        costs[label] = min(passes)
    added = costs["E.164"] - costs["cleaned only"]
    print(f"  reading {len(numbers):,} numbers: {costs['E.164']:.3f} s in"
          f" {settings.PHONE_DEFAULT_REGION}'s numbering plan, {costs['cleaned only']:.3f} s"
          f" cleaned only: +{added * 1e6 / len(numbers):.2f} µs a number")  # fmt: skip


def first_difference(a: list[int], b: list[int]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


# --- where the time goes, and how it grows -----------------------------------------------------


def stage_timings(allocation: Allocation, body: bytes) -> None:
    """The server's stages on the same batch, timed by the benchmark (each service step wrapped
    in a timer, in process, on the database a run's ``delete_leads`` settled): what the main
    thread spends reading, probing and preparing, what the writer thread spends writing, and
    what is left of the call's wall time (waiting for the writer, the commit)."""
    from leads import api
    from leads.services.lead_insert import LeadOutcome, lead_insert_batch

    spent: dict[str, float] = {}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    stages = [
        (lead_insert, "_read_chunk", "read (lead input, per chunk)"),
        (lead_insert._Batch, "probe", "probe (3 index probes per chunk)"),
        (lead_insert._Batch, "prepare", "classify, ids, COPY text"),
        (lead_insert._Batch, "write", "COPY (writer thread, overlapped)"),
        (api, "_summary_response", "answer (overlapped with the last writes)"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in stages]
    for owner, name, label in stages:
        setattr(owner, name, timed(label, getattr(owner, name)))
    try:  # on the database the last run's delete_leads settled
        with cyclic_gc_paused():
            request = RequestFactory().post("/", data=body, content_type="application/json")
            started = time.perf_counter()
            leads = json_parse(body_read(request))  # the server's own reading and parsing
            parsed = time.perf_counter()
            call = Allocation.objects.select_related("campaign__template__contact_hours")
            target = call_target_of(call.get(pk=allocation.pk))
            answers: list[Any] = []

            def answer(outcomes: list[LeadOutcome]) -> None:
                answers.append(api._summary_response(leads, outcomes))

            result = lead_insert_batch(
                target,
                leads,
                origin=NewOrigin(Door.CAMPAIGN_API, "bench", "insertLeadsFast"),
                outcomes_known=answer,
            )
            done = time.perf_counter()
            OrjsonRenderer().render(answers[0].data)
            rendered = time.perf_counter()
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    delete_leads([o.lead_id for o in result.outcomes if o.lead_id is not None])
    main = sum(v for k, v in spent.items() if "writer" not in k and "answer" not in k)
    print(f"  stages of the server's call, in process ({len(leads) / (rendered - started):,.0f}"
          " leads/s):")  # fmt: skip
    print(f"    {'read and parse the body (json)':42s} {parsed - started:6.3f} s")
    for label, seconds in spent.items():
        print(f"    {label:42s} {seconds:6.3f} s")
    print(f"    {'rest of the insert (wait for writer, commit)':42s}"
          f" {done - parsed - main - spent.get(stages[4][2], 0):6.3f} s")  # fmt: skip
    print(f"    {'render the answer (orjson)':42s} {rendered - done:6.3f} s")
    print(f"    {'wall':42s} {rendered - started:6.3f} s")


def growth_curve(batch_size: int) -> None:
    """Throughput against the campaign's size (0, 1M, 3M leads, 1M DNC numbers) and the DNC
    list's (100k, 1M, in the 1M campaign): one settled call each, the server and the bare
    pipeline, so that the growth of the cost is visible."""
    print(f"  throughput of one {batch_size:,}-lead call against the campaign's and the DNC"
          " list's size (server / bare, leads/s):")  # fmt: skip
    points = [(0, 1_000_000), (1_000_000, 1_000_000), (3_000_000, 1_000_000), (1_000_000, 100_000)]
    for existing, dnc in points:
        allocation = seed(existing, dnc=1_000_000)
        body = json.dumps(make_batch(batch_size, existing, dnc)).encode()
        with dnc_list(dnc):
            settle()
            server_s, _, ids, _ = real_path(allocation, body)
            delete_leads(ids)
            bare_s, _, ids = bare_insert(allocation.campaign_id, allocation.pk, body, FIELDS)
            delete_leads(ids)
        print(f"    campaign {existing:>9,} leads, DNC {dnc:>9,}: {batch_size / server_s:8,.0f}"
              f" / {batch_size / bare_s:8,.0f}   ratio {bare_s / server_s:.2f}")  # fmt: skip
