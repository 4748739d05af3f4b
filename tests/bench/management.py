"""Benchmark: the management API's bulk reads (#14), through gunicorn, each against a naive ORM
loop in the same run, on the benchmark campaign of 1,000,000 leads and 1,000,000 DNC numbers.

- ``POST /api/v1/dnc/check`` of 100,000 numbers (half listed, written with spaces as a client
  would): the server normalises them and asks in chunks of 10,000, one query each. The naive
  loop asks the ORM once per number. Target: under 1 s, at least 20x the loop.
- ``GET /api/v1/leads/?phone=…``: the number is normalised and found through the phone index.
  The naive search looks for it in the leads' JSON fields, as a server without a phone table
  would.
- ``GET /api/v1/leads/?search=Person 123456``: the lead list's search (the admin's): the
  external id and number indexes, then the words index (``leads.services.lead_words``, brought
  up to date first, and that timed). The naive search is the ORM's substring match of each
  word in the JSON text, in process. Target: p50 under 100 ms.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import statistics
import time
from typing import Any
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.db.models import Q

from campaigner.models import ApiToken
from leads.models import DncEntry, Lead
from leads.selectors import phone_normaliser_load
from leads.services.lead_words import lead_words_complete
from tests.bench.inserts import dnc_number, existing_number, seed
from tests.bench.server import gunicorn

TOKEN = "bench-management-token-000000"
CHECK_SIZE = 100_000
SEARCHES = 200
NAME_SEARCHES = 10  # each a scan of the campaign's fields' text
NAIVE_SEARCHES = 5
TARGET_CHECK_S, TARGET_RATIO = 1.0, 20


def _token() -> None:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    ApiToken.objects.filter(user=user).delete()
    token = ApiToken(user=user, name="bench")
    token.set_token(TOKEN)
    token.save()


def _call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _spaced(number: str) -> str:
    return f"{number[:2]} {number[2:6]} {number[6:]}"


def _naive_check(phones: list[str]) -> list[bool]:
    normalise = phone_normaliser_load()
    today = dt.date.today()
    active = Q(expires_on__isnull=True) | Q(expires_on__gt=today)
    return [DncEntry.objects.filter(active, number=normalise(p)).exists() for p in phones]


def run(existing: int) -> None:
    print(f"\n== management API: dnc/check and the lead search, {existing:,} leads and DNC numbers")
    allocation = seed(existing)
    _token()
    started = time.perf_counter()
    caught_up = lead_words_complete()
    print(f"  the search's words brought up to date: {caught_up.leads:,} leads in the last run,"
          f" {time.perf_counter() - started:.1f} s in all")  # fmt: skip
    rng = random.Random(14)
    phones = [
        _spaced(dnc_number(rng.randrange(existing)) if i % 2 else f"02{i:08d}")
        for i in range(CHECK_SIZE)
    ]
    with gunicorn(workers=1, threads=1) as (port, _):
        _call(port, "POST", "/api/v1/dnc/check", {"phones": phones[:100]})  # warm
        times = []
        for _ in range(3):
            started = time.perf_counter()
            status, answer = _call(port, "POST", "/api/v1/dnc/check", {"phones": phones})
            times.append(time.perf_counter() - started)
            assert status == 200, answer
        served = [r["blocked"] for r in answer["results"]]
        searches = []
        for _ in range(SEARCHES):
            number = existing_number(rng.randrange(existing))
            started = time.perf_counter()
            status, found = _call(port, "GET", f"/api/v1/leads/?phone={quote(_spaced(number))}")
            searches.append((time.perf_counter() - started) * 1000)
            assert status == 200 and found["count"] == 1, found
        by_name = []
        for _ in range(NAME_SEARCHES):
            i = rng.randrange(existing)
            started = time.perf_counter()
            status, found = _call(port, "GET", f"/api/v1/leads/?search=Person%20{i}")
            by_name.append((time.perf_counter() - started) * 1000)
            assert status == 200 and any(
                lead["fields"]["Name"] == f"Person {i}" for lead in found["results"]
            ), found
    started = time.perf_counter()
    naive = _naive_check(phones)
    naive_s = time.perf_counter() - started
    assert naive == served, "the naive loop and the server disagree"
    check_s = statistics.median(times)
    ratio = naive_s / check_s
    print(
        f"  dnc/check of {CHECK_SIZE:,} numbers ({sum(served):,} blocked) through HTTP: "
        f"median of 3 {check_s:.2f} s ({', '.join(f'{t:.2f}' for t in times)}); "
        f"naive per-number ORM loop {naive_s:.1f} s; ratio {ratio:.0f}x (targets "
        f"<= {TARGET_CHECK_S:.0f} s {'met' if check_s <= TARGET_CHECK_S else 'MISSED'}, "
        f">= {TARGET_RATIO}x {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    naive_ms = []
    for _ in range(NAIVE_SEARCHES):
        number = existing_number(rng.randrange(existing))
        started = time.perf_counter()
        hits = list(
            Lead.objects.filter(
                campaign=allocation.campaign, fields__FirstPhone=number
            ).values_list("pk", flat=True)
        )
        naive_ms.append((time.perf_counter() - started) * 1000)
        assert len(hits) == 1
    naive_name_ms = []
    for _ in range(NAIVE_SEARCHES):
        i = rng.randrange(existing)
        started = time.perf_counter()
        words = Q(fields__icontains="Person") & Q(fields__icontains=str(i))
        list(Lead.objects.filter(words, campaign=allocation.campaign).values_list("pk")[:100])
        naive_name_ms.append((time.perf_counter() - started) * 1000)
    name_p50 = statistics.median(by_name)
    print(
        f"  leads/?search=Person <n> in a campaign of {existing:,}, {NAME_SEARCHES} searches"
        " through "
        f"HTTP: p50 {name_p50:.1f} ms, slowest {max(by_name):.1f} ms "
        f"(target < 100 ms {'met' if name_p50 < 100 else 'MISSED'}); naive substring search "
        f"(in process, {NAIVE_SEARCHES}): p50 {statistics.median(naive_name_ms):.0f} ms"
    )
    p50 = statistics.median(searches)
    p99 = statistics.quantiles(searches, n=100)[98]
    naive_p50 = statistics.median(naive_ms)
    print(
        f"  leads/?phone= in a campaign of {existing:,}, {SEARCHES} searches through HTTP: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; naive JSON-field search (in process, "
        f"{NAIVE_SEARCHES}): p50 {naive_p50:.0f} ms; ratio {naive_p50 / p50:.0f}x"
    )
