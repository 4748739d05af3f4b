"""Benchmark: a manual import (#15) of a 1,000,000-row, 12-column CSV file (~150 MB) into the
benchmark campaign of 1,000,000 leads and 1,000,000 DNC numbers, uploaded through gunicorn and
run by a real ``celery worker``, against the same rows sent as ``insertLeadsFast`` calls of
100,000 through gunicorn. The two run alternately, ``PAIRS`` times each, every run on a settled
database (the runs' leads deleted, the tables vacuumed, a checkpoint).

Printed per pair: the upload (check and store), the import's rows/s, when its progress first
showed, the calls' rows/s and the ratio; then the median ratio and the worker's peak RSS. Both
must write the same number of leads. Target: the import at >= 0.8x the calls' throughput (median
ratio), the worker under 300 MB.

Row mix as the insert benchmark's: ~10% numbers already in the campaign, ~5% DNC, ~1%
in-file duplicates, ~1% taken external ids, ~0.5% unusable numbers.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from campaigner.models import Allocation
from leads.models import Lead, LeadImport, LeadPhone
from leads.services.lead_import import lead_of_row
from tests.bench.inserts import KEY, dnc_number, existing_number, seed
from tests.bench.management import TOKEN, _token
from tests.bench.server import REPO, gunicorn, peak_rss_mb, post
from tests.bench.setup import settle

COLUMNS = [
    "Name", "StreetAddress", "City", "State", "PostCode", "FirstPhone", "SecondPhone",
    "njExternalLeadId", "njPriority", "njCallBackDate", "njContactHours", "Vendor",
]  # fmt: skip
CALL_SIZE = 100_000
QUEUE = "bench-imports"
TARGET_RATIO, TARGET_RSS_MB = 0.8, 300
PAIRS = 2


def write_file(path: Path, rows: int, existing: int) -> None:
    rng = random.Random(20261202)
    recent: list[str] = []
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(rows):
            phone, external = f"06 {i // 10_000:04d} {i % 10_000:04d}", f"imp-{i}"
            roll = rng.random()
            if roll < 0.10:
                phone = existing_number(rng.randrange(existing))
            elif roll < 0.15:
                phone = dnc_number(rng.randrange(existing))
            elif roll < 0.16 and recent:
                phone = recent[rng.randrange(len(recent))]
            elif roll < 0.17:
                external = f"ext-{rng.randrange(existing)}"
            elif roll < 0.175:
                phone = "12-ab"
            if i % 1000 == 0:
                recent = [*recent[-99:], phone]
            writer.writerow([f"Imported lead {i}", "Suite 8/10 Hoddle St", "Abbotsford", "Vic",
                             "3064", phone, "", external, str(i % 20), "", "",
                             f"vendor-{i % 7}"])  # fmt: skip


@contextmanager
def worker() -> Iterator[int]:
    """A celery worker (solo pool) on the bench database; yields its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "campaigner.celery:app", "worker",
         "--pool", "solo", "-l", "warning", "-Q", QUEUE],
        cwd=REPO, env={**os.environ, "CELERY_TASK_DEFAULT_QUEUE": QUEUE},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)  # ready to consume (the import waits in the queue meanwhile anyway)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


def delete_since(last_id: int, allocation: Allocation) -> None:
    """Remove what a run wrote, and settle the database, so every run starts from one state."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (LeadPhone._meta.db_table, Lead._meta.db_table):
            column = "lead_id" if table == LeadPhone._meta.db_table else "id"
            cursor.execute(
                f"DELETE FROM {table} WHERE campaign_id = %s AND {column} > %s",
                [allocation.campaign_id, last_id],
            )
    settle()


def last_lead_id() -> int:
    return Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0


def by_import(allocation: Allocation, path: Path) -> tuple[float, float, float, float, int]:
    """Upload seconds, import seconds, seconds to the first visible progress, worker peak RSS
    (MB), leads written."""
    campaign = allocation.campaign
    env = {"CELERY_TASK_DEFAULT_QUEUE": QUEUE}
    with gunicorn(workers=1, **env) as (port, _), worker() as pid:
        started = time.perf_counter()
        with path.open("rb") as file:
            answer = requests.post(
                f"http://127.0.0.1:{port}/api/v1/imports/",
                headers={"Authorization": f"Bearer {TOKEN}"},
                data={
                    "template": campaign.template_id,
                    "campaign": campaign.pk,
                    "allocation": allocation.pk,
                },
                files={"file": (path.name, file, "text/csv")},
                timeout=900,
            )
        uploaded = time.perf_counter()
        assert answer.status_code == 202, answer.text
        import_id = answer.json()["id"]
        first_progress = None
        while True:
            state = LeadImport.objects.get(pk=import_id)
            if first_progress is None and state.processed:
                first_progress = time.perf_counter() - uploaded
            if state.finished:
                break
            time.sleep(0.1)
        peak = peak_rss_mb(pid)
    assert state.status == "done", state.error
    assert state.started_at and state.finished_at
    run_s = (state.finished_at - state.started_at).total_seconds()
    return uploaded - started, run_s, first_progress or run_s, peak, state.imported


def by_calls(allocation: Allocation, csv_path: Path) -> tuple[float, int]:
    """Seconds for the file's rows as insertLeadsFast calls of CALL_SIZE, leads written."""
    campaign = allocation.campaign
    query = (f"fTemplateId={campaign.template_id}&fCampaignId={campaign.pk}"
             f"&fAllocationId={allocation.pk}&apiKey={KEY}")  # fmt: skip
    written, elapsed = 0, 0.0
    with gunicorn(workers=1) as (port, _), csv_path.open(newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        used = {i: name for i, name in enumerate(header) if name != "Vendor"}
        path = f"/servicemanager/rest/CampaignAPI/insertLeadsFast?{query}"
        post(port, path, b"[]")
        while batch := [lead_of_row(c, used) for c in itertools.islice(reader, CALL_SIZE)]:
            body = json.dumps(batch).encode()  # made before the clock runs, as a client would
            started = time.perf_counter()
            status, payload = post(port, path, body)
            elapsed += time.perf_counter() - started
            assert status == 200, payload
            written += sum(1 for r in payload["results"] if r["code"] == 0)
    return elapsed, written


def run(existing: int, rows: int = 1_000_000) -> None:
    print(f"\n== manual import: a {rows:,}-row CSV into a campaign of {existing:,} leads "
          f"with {existing:,} DNC numbers; {PAIRS} pairs, alternating, each on a settled "
          "database")  # fmt: skip
    allocation = seed(existing)
    _token()
    ratios, peaks, written = [], [], set()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench-import.csv"
        write_file(path, rows, existing)
        print(f"  file: {path.stat().st_size / 2**20:.0f} MiB, {len(COLUMNS)} columns")
        before = last_lead_id()
        for pair in range(1, PAIRS + 1):
            delete_since(before, allocation)
            upload_s, import_s, first_s, peak, imported = by_import(allocation, path)
            delete_since(before, allocation)
            calls_s, called = by_calls(allocation, path)
            import_rate, calls_rate = rows / import_s, rows / calls_s
            ratios.append(import_rate / calls_rate)
            peaks.append(peak)
            written |= {imported, called}
            print(f"  pair {pair}: upload (check and store, HTTP) {upload_s:.2f} s\n"
                  f"    import (celery worker):  {import_s:6.2f} s {import_rate:8,.0f} rows/s,"
                  f" first progress after {first_s:.1f} s\n"
                  f"    insertLeadsFast x{rows // CALL_SIZE} (HTTP): {calls_s:6.2f} s"
                  f" {calls_rate:8,.0f} rows/s\n"
                  f"    ratio {ratios[-1]:.2f}")  # fmt: skip
        delete_since(before, allocation)
    ratio = statistics.median(ratios)
    print(f"  median ratio import/calls: {ratio:.2f}   leads written: {sorted(written)}")
    print(f"  worker peak RSS (VmHWM): {max(peaks):.0f} MB")
    verdicts = [
        (f">= {TARGET_RATIO}x the calls", ratio >= TARGET_RATIO),
        (f"< {TARGET_RSS_MB} MB worker peak", max(peaks) < TARGET_RSS_MB),
        ("same leads written", len(written) == 1),
    ]
    print("  targets: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in verdicts))
    if len(written) != 1:
        raise SystemExit("the import and the calls wrote different numbers of leads")
