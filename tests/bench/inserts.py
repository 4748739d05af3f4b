"""Benchmark: one ``insertLeadsFast`` call of 100,000 leads into a campaign of 1,000,000 leads
with a DNC list of 1,000,000 numbers, through the real HTTP stack (gunicorn), against a
deliberately naive ORM implementation (per-lead ``exists()`` checks and saves) on the same
batch from the same starting state. Both must give the same per-lead codes.

Batch mix (seeded, so every run sends the same batch): ~10% phones already in the campaign,
~5% DNC, ~1% in-batch duplicates, ~1% taken external ids, ~0.5% unusable numbers.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigner.contract import CampaignApiError, Code
from campaigner.models import Allocation, ApiKey, Campaign, CampaignTemplate, TemplateField
from leads.models import DncEntry, Lead, LeadPhone
from leads.services import lead_insert
from tests.bench.server import gunicorn, peak_rss_mb, post

KEY = "bench-key-00000000000000000000"
FIELDS = ["Name", "StreetAddress", "City", "State", "PostCode", "FirstPhone", "SecondPhone"]
TARGET_RATE, TARGET_RATIO, TARGET_RSS_MB = 30_000, 20, 400


def existing_number(i: int) -> str:
    return f"03{i:08d}"


def dnc_number(i: int) -> str:
    return f"04{i:08d}"


# --- seeding ----------------------------------------------------------------------------------


def seed(existing: int) -> Allocation:
    """The benchmark campaign with ``existing`` leads and as many DNC numbers (reused if there)."""
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
        and DncEntry.objects.filter(source="bench").count() >= existing
    )
    if seeded:
        print(f"  reusing the seeded campaign of {existing:,} leads")
        return allocation
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # A half-seeded campaign (an interrupted run) is cleared in SQL: the ORM's cascade
        # would collect a million ids into one query, over PostgreSQL's parameter limit.
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
            SELECT id, campaign_id, 'FirstPhone', fields->>'FirstPhone', false
            FROM {Lead._meta.db_table} WHERE campaign_id = %s""",
            [campaign.pk],
        )
        cursor.execute(
            f"""INSERT INTO {DncEntry._meta.db_table} (number, source, note, created_at)
            SELECT '04' || lpad(i::text, 8, '0'), 'bench', '', now()
            FROM generate_series(0, %s - 1) AS i ON CONFLICT (number) DO NOTHING""",
            [existing],
        )
        cursor.execute("ANALYZE")
    print(f"  seeded {existing:,} leads and DNC numbers in {time.perf_counter() - started:.0f} s")
    return allocation


def make_batch(size: int, existing: int) -> list[dict[str, Any]]:
    rng = random.Random(20261123)
    batch: list[dict[str, Any]] = []
    for i in range(size):
        lead: dict[str, Any] = {
            "Name": f"New lead {i}", "StreetAddress": "Suite 8/10 Hoddle St",
            "City": "Abbotsford", "State": "Vic", "PostCode": "3064",
            "FirstPhone": f"05 {i // 10_000:04d} {i % 10_000:04d}", "njExternalLeadId": f"new-{i}",
        }  # fmt: skip
        roll = rng.random()
        if roll < 0.10:
            lead["FirstPhone"] = existing_number(rng.randrange(existing))
        elif roll < 0.15:
            lead["FirstPhone"] = dnc_number(rng.randrange(existing))
        elif roll < 0.16 and batch:
            lead["FirstPhone"] = batch[rng.randrange(len(batch))]["FirstPhone"]
        elif roll < 0.17:
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


def delete_leads(ids: list[int]) -> None:
    """Remove the leads a run inserted, and vacuum, so every run starts from the same state."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {LeadPhone._meta.db_table} WHERE lead_id = ANY(%s)",
            [ids],
        )
        cursor.execute(f"DELETE FROM {Lead._meta.db_table} WHERE id = ANY(%s)", [ids])
        cursor.execute(f"VACUUM ANALYZE {Lead._meta.db_table}, {LeadPhone._meta.db_table}")


# --- the naive baseline -------------------------------------------------------------------------


def naive_insert(allocation: Allocation, batch: list[dict[str, Any]]) -> list[int]:
    """What a first ORM version looks like: per lead, ``exists()`` per check and a save per row.
    It reuses the pure per-lead reading of the real service, so only the database work differs.
    Runs in one transaction that is rolled back, leaving the seeded state as it was."""
    target = lead_insert.insert_target_load(allocation)
    codes = []
    today = timezone.now().date()  # the DB compares with CURRENT_DATE in UTC
    with transaction.atomic():
        for index, raw in enumerate(batch):
            try:
                lead = lead_insert._read(index, raw, target)
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


def run(batch_size: int, existing: int, naive: bool = True) -> None:
    db = settings.DATABASES["default"]
    where = f"{db['NAME']} on {db['HOST'] or 'localhost'}"
    print(f"\n== insertLeadsFast: {batch_size:,} leads into a campaign of {existing:,} leads "
          f"with {existing:,} DNC numbers ({where})")  # fmt: skip
    allocation = seed(existing)
    batch = make_batch(batch_size, existing)
    body = json.dumps(batch).encode()
    print(f"  batch body: {len(body) / 2**20:.1f} MiB")

    real_s, real_codes, ids, peak_mb = real_path(allocation, body)
    delete_leads(ids)
    real_rate = batch_size / real_s
    if not naive:
        print(f"  real path (HTTP, gunicorn, 1 worker): {real_s:7.2f} s  {real_rate:9,.0f} leads/s")
        print(f"  server worker peak RSS (VmHWM): {peak_mb:.0f} MB  (naive baseline skipped)")
        return
    started = time.perf_counter()
    naive_codes = naive_insert(allocation, batch)
    naive_s = time.perf_counter() - started

    naive_rate = batch_size / naive_s
    same = real_codes == naive_codes
    counts = {code: real_codes.count(code) for code in sorted(set(real_codes))}
    print(f"  codes: {', '.join(f'{Code(c).message} {n:,}' for c, n in counts.items())}")
    print(f"  real path (HTTP, gunicorn, 1 worker): {real_s:7.2f} s  {real_rate:9,.0f} leads/s")
    print(f"  naive ORM baseline (in process):      {naive_s:7.2f} s  {naive_rate:9,.0f} leads/s")
    print(f"  ratio real/naive: {real_rate / naive_rate:.1f}x   same per-lead codes: {same}")
    print(f"  server worker peak RSS (VmHWM): {peak_mb:.0f} MB")
    verdicts = [
        (f">= {TARGET_RATE:,} leads/s", real_rate >= TARGET_RATE),
        (f">= {TARGET_RATIO}x naive", real_rate / naive_rate >= TARGET_RATIO),
        (f"< {TARGET_RSS_MB} MB peak", peak_mb < TARGET_RSS_MB),
    ]
    print("  targets: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in verdicts))
    if not same:
        first = next(
            i for i, (a, b) in enumerate(zip(real_codes, naive_codes, strict=False)) if a != b
        )
        raise SystemExit(f"per-lead codes differ, first at lead {first}: {batch[first]}")
