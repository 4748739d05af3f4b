"""Benchmark: bulk jobs (#28) over a campaign of 1,000,000 leads, run by the job engine in this
process (``lead_job_run``, chunks of ``LEAD_JOB_CHUNK``), against a naive baseline in the same
run: the ORM's loop of a versioned write per lead (``lead_write``), timed over 5,000 leads.

Printed: leads/s of a move, a reset and an export (rows/s, and the CSV's size), the seconds of
an undo of a 1,000,000-row import, the longest chunk (the longest any lead of the job is
locked: the dialer hands out every other lead meanwhile), and the ratio to the naive loop.
Targets: move and reset >= 50,000 leads/s, export >= 100,000 rows/s, the undo < 60 s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from campaigner.models import Allocation, Campaign, CampaignTemplate, TemplateField
from leads.models import (
    Door,
    Lead,
    LeadChange,
    LeadImport,
    LeadJob,
    LeadJobFile,
    LeadOrigin,
    LeadPhone,
)
from leads.services import lead_job
from leads.services.lead_job import lead_job_create, lead_job_run
from leads.services.lead_version import ChangeBy, lead_write
from tests.bench.setup import settle

FIELDS = ["Name", "City", "FirstPhone"]
NAIVE_LEADS = 5_000
TARGETS = {"move": 50_000, "reset": 50_000, "export": 100_000}
UNDO_TARGET_S = 60


def _campaign(name: str) -> tuple[Campaign, Allocation, Allocation]:
    template, _ = CampaignTemplate.objects.get_or_create(name="Bench jobs")
    for position, field in enumerate(FIELDS):
        TemplateField.objects.get_or_create(
            template=template, name=field,
            defaults={"is_phone": field.endswith("Phone"), "position": position},
        )  # fmt: skip
    campaign, _ = Campaign.objects.get_or_create(name=name, template=template)
    a, _ = Allocation.objects.get_or_create(campaign=campaign, name="A", started=True)
    b, _ = Allocation.objects.get_or_create(campaign=campaign, name="B", started=True)
    return campaign, a, b


def _seed(campaign: Campaign, allocation: Allocation, leads: int, origin: int | None) -> None:
    """``leads`` leads with a number each, as an insert writes them (all at version 1)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {LeadPhone._meta.db_table} WHERE campaign_id = %s", [campaign.pk]
        )
        cursor.execute(f"DELETE FROM {Lead._meta.db_table} WHERE campaign_id = %s", [campaign.pk])
        cursor.execute(
            f"""INSERT INTO {Lead._meta.db_table} (campaign_id, allocation_id, fields, external_id,
                priority, closed, version, checked_out_by, origin_id, created_at, updated_at)
            SELECT %s, %s, jsonb_build_object('Name', 'Person ' || i, 'City', 'Abbotsford',
                       'FirstPhone', '03' || lpad(i::text, 8, '0')),
                   'ext-' || i, i %% 20, false, 1, '', %s, now(), now()
            FROM generate_series(0, %s - 1) AS i""",
            [campaign.pk, allocation.pk, origin, leads],
        )
        cursor.execute(
            f"""INSERT INTO {LeadPhone._meta.db_table} (lead_id, campaign_id, field_name, number,
                blocked)
            SELECT id, campaign_id, 'FirstPhone', '+61' || substr(fields->>'FirstPhone', 2), false
            FROM {Lead._meta.db_table} WHERE campaign_id = %s""",
            [campaign.pk],
        )
        cursor.execute(f"TRUNCATE {LeadChange._meta.db_table}")
        cursor.execute("ANALYZE")


def _timed_chunks() -> list[float]:
    """Wrap the job's chunk steps to time each one (its transaction's lock span)."""
    spans: list[float] = []
    for name in ("_write_chunk", "_export_chunk"):
        original = getattr(lead_job, f"_bench_{name}", None) or getattr(lead_job, name)
        setattr(lead_job, f"_bench_{name}", original)

        def make(original: Callable[..., Any] = original) -> Callable[..., Any]:
            def wrapped(job: LeadJob) -> Callable[[list[int]], Any]:
                step = original(job)

                def timed(ids: list[int]) -> Any:
                    started = time.perf_counter()
                    result = step(ids)
                    spans.append(time.perf_counter() - started)
                    return result

                return timed

            return wrapped

        setattr(lead_job, name, make())
    return spans


def _run(user: Any, kind: str, selection: dict[str, Any], params: Any = None) -> LeadJob:
    job = lead_job_create(user, kind, selection, params)
    assert lead_job_run(job.pk) == "done", LeadJob.objects.get(pk=job.pk).error
    return LeadJob.objects.get(pk=job.pk)


def _naive_move(allocation: Allocation, to: Allocation) -> float:
    """Leads/s of the ORM loop: read each lead, a versioned write each, in one transaction."""
    by = ChangeBy(Door.JOB, "naive")
    started = time.perf_counter()
    with transaction.atomic():
        leads = Lead.objects.filter(allocation=allocation).order_by("id")[:NAIVE_LEADS]
        for lead in leads:
            if not lead.checked_out_until:
                lead_write(lead.pk, lead.version, {"allocation_id": to.pk}, by=by)
        transaction.set_rollback(True)
    return NAIVE_LEADS / (time.perf_counter() - started)


def run(existing: int) -> None:
    print(f"\n== bulk jobs over {existing:,} leads ==")
    settings.LEAD_JOB_CHUNK = 10_000
    lead_job._queue = lambda job_id: None  # run here, not by Celery
    user, _ = get_user_model().objects.get_or_create(
        username="bench-jobs", defaults={"is_superuser": True, "is_staff": True}
    )
    campaign, a, b = _campaign("bench-jobs")
    _seed(campaign, a, existing, None)
    settle()
    spans = _timed_chunks()
    naive = _naive_move(a, b)
    rates: dict[str, float] = {}
    selection = {"campaign": campaign.pk}

    started = time.perf_counter()
    job = _run(user, "move", selection, {"allocation": b.pk})
    rates["move"] = job.changed / (time.perf_counter() - started)
    write_spans = list(spans)
    spans.clear()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Lead._meta.db_table} SET closed = true WHERE campaign_id = %s",
                       [campaign.pk])  # fmt: skip
        cursor.execute(f"TRUNCATE {LeadChange._meta.db_table}")
    settle()
    started = time.perf_counter()
    job = _run(user, "reset", selection)
    rates["reset"] = job.changed / (time.perf_counter() - started)
    write_spans += spans
    spans.clear()
    settle()
    started = time.perf_counter()
    job = _run(user, "export", selection)
    rates["export"] = job.changed / (time.perf_counter() - started)
    size = sum(
        len(bytes(d)) for d in LeadJobFile.objects.filter(job=job).values_list("data", flat=True)
    )
    longest_export = max(spans)
    LeadJobFile.objects.filter(job=job).delete()

    # The undo of a 1,000,000-row import: the leads an import inserted, all untouched.
    undo_campaign, ua, _ = _campaign("bench-jobs-undo")
    lead_import = LeadImport.objects.create(
        campaign=undo_campaign, allocation=ua, file_name="bench.csv", file_size=0, header=[],
        rows=existing, status=LeadImport.Status.DONE, imported=existing,
    )  # fmt: skip
    origin = LeadOrigin.objects.create(via=Door.IMPORT, call="bench", lead_import=lead_import)
    _seed(undo_campaign, ua, existing, origin.pk)
    settle()
    started = time.perf_counter()
    job = _run(user, "undo_import", {"leadImport": lead_import.pk})
    undo_s = time.perf_counter() - started
    assert job.changed == existing and not Lead.objects.filter(campaign=undo_campaign).exists()

    print(f"  naive ORM loop (lead_write per lead): {naive:,.0f} leads/s")
    for kind, rate in rates.items():
        verdict = "ok" if rate >= TARGETS[kind] else "UNDER TARGET"
        unit = "rows/s" if kind == "export" else "leads/s"
        print(f"  {kind:8} {rate:>10,.0f} {unit}  ({rate / naive:.0f}x naive; target"
              f" {TARGETS[kind]:,}: {verdict})")  # fmt: skip
    print(f"  export file: {size / 1e6:,.0f} MB, one piece per chunk")
    verdict = "ok" if undo_s < UNDO_TARGET_S else "OVER TARGET"
    print(f"  undo of a {existing:,}-row import: {undo_s:.1f} s ({verdict}: < {UNDO_TARGET_S} s)")
    print(f"  chunk (its leads locked): median {statistics.median(write_spans) * 1000:.0f} ms,"
          f" longest {max(write_spans) * 1000:.0f} ms; export longest"
          f" {longest_export * 1000:.0f} ms")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {LeadChange._meta.db_table}")
