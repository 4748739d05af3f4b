"""Benchmark: a production morning, everything at once, through the server as deployed.

gunicorn (2 workers x 4 threads, ``campaigner.gunicorn_conf``), a real Celery worker and beat
(cache rebuilds and dashboard refreshes every 20 s), on the 1,000,000-lead campaigns of the
other benchmarks:

- 8 dialer agents looping next-lead → outcome ("No Answer", whose webhook action the worker
  delivers to a local receiver);
- 40 CRM clients sending ``insertLeadFast`` and ``updateLeadFast`` (the updates name leads the
  same client inserted);
- one client sending a 10,000-lead ``insertLeadsFast`` every 10 s;
- one manual import of 200,000 rows into another campaign, uploaded at the start;
- a script searching leads by phone on the management API, a load balancer polling
  ``/health``, and a supervisor opening the admin's login page.

Each call type is first timed alone (one client, nothing else running), then in the mix for a
fixed time. Printed per call type: p50 / p99 / max and errors, alone and mixed, and the p99
ratio (the figure that survives a noisy machine). Afterwards every acknowledged write is counted
in the database. Targets: 0 errors other than 109, no acknowledged write lost, next-lead p99
mixed <= 3 x alone, writes served at the configured rate.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from campaigner.models import (
    Allocation,
    Campaign,
    Disposition,
    DispositionAction,
    DispositionSet,
)
from dialer.services import dialer_cache_refresh
from leads.models import Lead
from tests.bench import dialer, imports, inserts, management
from tests.bench.server import REPO, gunicorn
from tests.webhooks import Hook

AGENTS, CRM_CLIENTS = 8, 40
BULK_SIZE, BULK_EVERY_S = 10_000, 10
ALONE_S = 8
FLOOD = {"insertLeadFast": 200, "insertLeadsFast": 0}  # and one client of each read
FLOOD_S = 20
QUEUE = "bench-mixed"
TARGET_DIALER_RATIO = 3


class Recorder:
    """Latencies and outcomes per call type (thread-safe enough: list appends)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.busy: dict[str, int] = defaultdict(int)  # 109s

    def call(
        self, port: int, kind: str, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        started = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                           **headers})  # fmt: skip
            response = conn.getresponse()
            raw = response.read()
        except OSError as exc:
            self.errors[kind].append(repr(exc))
            return 0, None
        finally:
            conn.close()
        self.seconds[kind].append(time.perf_counter() - started)
        answer = json.loads(raw) if raw.startswith((b"{", b"[")) else raw
        code = answer.get("code") if isinstance(answer, dict) else None
        if code == 109:
            self.busy[kind] += 1
        elif response.status >= 400 or code not in (None, 0):
            self.errors[kind].append(f"{response.status} {raw[:120]!r}")
        return response.status, answer


@contextmanager
def celery(*args: str) -> Iterator[None]:
    env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": QUEUE, "ACTION_WEBHOOK_ALLOW_PRIVATE": "1",
           "DIALER_REFRESH_SECONDS": "20", "DASHBOARD_REFRESH_SECONDS": "20"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "campaigner.celery:app", *args, "-l", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=60)


def prepare(existing: int) -> dict[str, Any]:
    allocation = inserts.seed(existing)
    dial = dialer.seed(1, existing)[0]  # leaves only its own campaign active
    Campaign.objects.filter(pk=allocation.campaign_id).update(active=True)
    imported, _ = Campaign.objects.get_or_create(
        name="mixed-import", defaults={"template": allocation.campaign.template}
    )
    Campaign.objects.filter(pk=imported.pk).update(active=True)
    import_allocation, _ = Allocation.objects.get_or_create(
        campaign=imported, name="main", defaults={"started": True}
    )
    earlier = Lead.objects.filter(campaign=imported).values_list("pk", flat=True)
    inserts.delete_leads(list(earlier))  # an earlier run's import
    for template in (dial.template, allocation.campaign.template):
        dispositions, _ = DispositionSet.objects.get_or_create(name="Mixed bench")
        template.disposition_set = dispositions
        template.save(update_fields=["disposition_set"])
    no_answer, _ = Disposition.objects.get_or_create(disposition_set=dispositions, name="No Answer")
    management._token()  # a superuser's token: the dialer, the search and the import
    dialer_cache_refresh(dial.pk)
    return {"allocation": allocation, "dial": dial, "import": import_allocation,
            "no_answer": no_answer}  # fmt: skip


def loops(
    port: int, rec: Recorder, ctx: dict[str, Any], run: str, stop: threading.Event
) -> dict[str, Callable[[int, int], None]]:
    """Each call type as a loop body ``body(worker_index, iteration)``."""
    allocation = ctx["allocation"]
    campaign = allocation.campaign
    ids = (f"fTemplateId={campaign.template_id}&fCampaignId={campaign.pk}"
           f"&fAllocationId={allocation.pk}&apiKey={inserts.KEY}")  # fmt: skip
    api = "/servicemanager/rest/CampaignAPI/"
    auth = {"Authorization": f"Bearer {management.TOKEN}"}
    numbers = ctx["numbers"]  # shared by every phase: each call gets its own

    def agent(i: int, n: int) -> None:
        path = f"/api/v1/dialer/campaigns/{ctx['dial'].pk}/next-lead"
        status, lead = rec.call(port, "next-lead", "POST", path, {"agent": f"agent {i}"}, **auth)
        if status == 200:
            rec.call(port, "outcome", "POST", f"/api/v1/dialer/leads/{lead['leadId']}/outcome",
                     {"disposition": "No Answer"}, **auth)  # fmt: skip

    def crm(i: int, n: int) -> None:
        k = next(numbers)
        external = f"mix-{run}-{k}"
        body = {"Name": f"CRM {i}", "FirstPhone": f"08{int(run) % 100:02d}{k:06d}",
                "njExternalLeadId": external}  # fmt: skip
        status, answer = rec.call(
            port, "insertLeadFast", "POST", f"{api}insertLeadFast?{ids}", body
        )
        if status == 200 and answer.get("code") == 0:
            ctx["acknowledged"].append(external)
            update = {"njExternalLeadId": external, "FirstPhone": "<No Change>",
                      "City": "Updated", "njDisposition": "No Answer"}  # fmt: skip
            rec.call(port, "updateLeadFast", "POST", f"{api}updateLeadFast?{ids}", update)

    def bulk(i: int, n: int) -> None:
        started = time.monotonic()
        base = next(numbers) * BULK_SIZE
        prefix = f"09{int(run) % 100:02d}"
        leads = [
            {"Name": "Bulk", "FirstPhone": f"{prefix}{(base + j) % 10**6:06d}",
             "njExternalLeadId": f"mixbulk-{run}-{base + j}"}
            for j in range(BULK_SIZE)
        ]  # fmt: skip
        status, answer = rec.call(port, "insertLeadsFast", "POST", f"{api}insertLeadsFast?{ids}",
                                  leads)  # fmt: skip
        if status == 200 and isinstance(answer, dict) and answer.get("code") == 0:
            found = re.search(r"Imported (\d+)", json.dumps(answer))
            ctx["bulk_acknowledged"] += int(found.group(1)) if found else 0
        stop.wait(max(0.0, BULK_EVERY_S - (time.monotonic() - started)))

    def search(i: int, n: int) -> None:
        phone = inserts.existing_number(next(numbers) * 7919 % 1_000_000)
        rec.call(port, "lead search", "GET", f"/api/v1/leads/?phone={phone}", **auth)
        stop.wait(0.2)

    def health(i: int, n: int) -> None:
        rec.call(port, "/health", "GET", "/health")
        stop.wait(0.2)

    def login_page(i: int, n: int) -> None:
        rec.call(port, "admin login page", "GET", "/admin/login/")
        stop.wait(0.5)

    return {"next-lead": agent, "insertLeadFast": crm, "insertLeadsFast": bulk,
            "lead search": search, "/health": health, "admin login page": login_page}  # fmt: skip


def running(
    body: Callable[[int, int], None], workers: int, stop: threading.Event
) -> list[threading.Thread]:
    def loop(i: int) -> None:
        n = 0
        while not stop.is_set():
            body(i, n)
            n += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    return threads


def phase(
    port: int,
    rec: Recorder,
    ctx: dict[str, Any],
    run_id: str,
    *,
    counts: dict[str, int],
    seconds: float,
    upload_path: Path | None = None,
) -> float:
    """Every call type at once, ``counts[kind]`` clients each (default 1; 0 leaves it out),
    plus the import's upload if given, for ``seconds``; the seconds until the last call
    in flight was answered."""
    started = time.monotonic()
    stop = threading.Event()
    threads = []
    if upload_path is not None:
        threads.append(threading.Thread(target=upload, args=(port, rec, ctx, upload_path)))
        threads[0].start()
    for kind, body in loops(port, rec, ctx, run_id, stop).items():
        threads += running(body, counts.get(kind, 1), stop)
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def upload(port: int, rec: Recorder, ctx: dict[str, Any], path: Path) -> None:
    import requests

    target = ctx["import"]
    started = time.perf_counter()
    with path.open("rb") as file:
        answer = requests.post(
            f"http://127.0.0.1:{port}/api/v1/imports/",
            headers={"Authorization": f"Bearer {management.TOKEN}"},
            data={"template": target.campaign.template_id, "campaign": target.campaign_id,
                  "allocation": target.pk},
            files={"file": (path.name, file, "text/csv")}, timeout=900,
        )  # fmt: skip
    rec.seconds["import upload"].append(time.perf_counter() - started)
    if answer.status_code != 202:
        rec.errors["import upload"].append(f"{answer.status_code} {answer.text[:200]}")
    else:
        ctx["import_id"] = answer.json()["id"]


def report(alone: Recorder, mixed: Recorder, seconds: float) -> None:
    def q(values: list[float]) -> str:
        if len(values) < 2:
            return f"{'n/a':>26}"
        cuts = statistics.quantiles(values, n=100)
        return f"{cuts[49] * 1000:8.1f} {cuts[98] * 1000:8.1f} {max(values) * 1000:8.0f}"

    print(f"  {'call':<18} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'err':>4} {'109':>5}"
          f" | alone: {'n':>5} {'p50':>8} {'p99':>8} {'max':>8} | p99 ratio")  # fmt: skip
    for kind in sorted(mixed.seconds):
        m, a = mixed.seconds[kind], alone.seconds.get(kind, [])
        ratio = ""
        if len(m) > 1 and len(a) > 1:
            ratio = (
                f"{statistics.quantiles(m, n=100)[98] / statistics.quantiles(a, n=100)[98]:.1f}x"
            )
        print(f"  {kind:<18} {len(m):>6} {q(m)} {len(mixed.errors[kind]):>4} {mixed.busy[kind]:>5}"
              f" | {len(a):>12} {q(a)} | {ratio}")  # fmt: skip
    writes = len(mixed.seconds["insertLeadFast"]) + len(mixed.seconds["updateLeadFast"])
    print(f"  single-lead write calls answered: {writes / seconds:.1f}/s over {seconds:.0f} s")
    for kind, errors in mixed.errors.items():
        for error in errors[:3]:
            print(f"    error {kind}: {error}")


def run(existing: int, duration: float = 60, import_rows: int = 200_000) -> None:
    print(f"\n== mixed load: {AGENTS} agents, {CRM_CLIENTS} CRM clients, a {BULK_SIZE:,}-lead call"
          f" every {BULK_EVERY_S} s, a {import_rows:,}-row import, search, /health and the admin,"
          f" for {duration:.0f} s on campaigns of {existing:,} leads")  # fmt: skip
    ctx = prepare(existing)
    ctx.update(acknowledged=[], bulk_acknowledged=0, numbers=iter(range(10**8)))
    run_id = str(int(time.time()) % 10**6)
    hook = Hook([])
    DispositionAction.objects.filter(disposition=ctx["no_answer"]).delete()
    DispositionAction.objects.create(disposition=ctx["no_answer"], kind="webhook",
                                     params={"url": hook.url, "secret": "bench"})  # fmt: skip
    env = {"CELERY_TASK_DEFAULT_QUEUE": QUEUE, "ACTION_WEBHOOK_ALLOW_PRIVATE": "1"}
    alone, mixed = Recorder(), Recorder()
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "mixed-import.csv"
        imports.write_file(csv_path, import_rows, existing)
        with (
            gunicorn(workers=2, threads=4, **env) as (port, _),
            celery("worker", "-Q", QUEUE, "--concurrency", "2"),
            celery("beat", "--schedule", str(Path(folder) / "beat-schedule")),
        ):
            for kind in loops(port, alone, ctx, run_id, threading.Event()):
                stop = threading.Event()
                threads = running(loops(port, alone, ctx, run_id, stop)[kind], 1, stop)
                time.sleep(ALONE_S if kind != "insertLeadsFast" else 1)
                stop.set()
                for thread in threads:
                    thread.join()
            flood = Recorder()
            flooded = phase(port, flood, ctx, run_id, counts=FLOOD, seconds=FLOOD_S)
            counts = {"next-lead": AGENTS, "insertLeadFast": CRM_CLIENTS}
            elapsed = phase(
                port, mixed, ctx, run_id, counts=counts, seconds=duration, upload_path=csv_path
            )
    print(f"  -- write flood alone: {FLOOD['insertLeadFast']} clients keeping insertLeadFast"
          f" in flight, {FLOOD_S} s (target: the others' p99 <= 2 x alone)")  # fmt: skip
    report(alone, flood, flooded)
    print(f"  -- the mix, {duration:.0f} s")
    report(alone, mixed, elapsed)
    campaign = ctx["allocation"].campaign
    singles = Lead.objects.filter(campaign=campaign, external_id__startswith=f"mix-{run_id}-")
    bulks = Lead.objects.filter(campaign=campaign, external_id__startswith=f"mixbulk-{run_id}-")
    stored, stored_bulk = singles.count(), bulks.count()
    lost = stored < len(ctx["acknowledged"]) or stored_bulk < ctx["bulk_acknowledged"]
    print(f"  acknowledged writes stored: single {stored:,} of {len(ctx['acknowledged']):,},"
          f" bulk {stored_bulk:,} of {ctx['bulk_acknowledged']:,}"
          f"  ({'LOST WRITES' if lost else 'none lost'})")  # fmt: skip
    print(f"  webhook deliveries received: {len(hook.received):,}; import {ctx.get('import_id')}")
    a = alone.seconds["next-lead"]
    m = mixed.seconds["next-lead"]
    if len(a) > 1 and len(m) > 1:
        ratio = statistics.quantiles(m, n=100)[98] / statistics.quantiles(a, n=100)[98]
        print(f"  next-lead p99 mixed / alone: {ratio:.1f}x (target <= {TARGET_DIALER_RATIO}x "
              f"{'met' if ratio <= TARGET_DIALER_RATIO else 'MISSED'})")  # fmt: skip
    inserts.delete_leads(
        [*singles.values_list("pk", flat=True), *bulks.values_list("pk", flat=True)]
    )
