"""Benchmark: the admin's dashboard on the dialer benchmark's 10 active campaigns of 1,000,000
leads each (#16). Printed: the beat refresh of all their figures (one pass over the leads),
the home page's time in process (p50/p95 of 20 loads, as a superuser), and a naive dashboard
that counts each figure per campaign at page time, for comparison."""

from __future__ import annotations

import datetime as dt
import statistics
import time

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from campaigner.models import Campaign
from dialer.stats import campaign_stats_refresh
from leads.models import Lead
from tests.bench.dialer import seed

LOADS = 20


def naive_figures(campaign: Campaign) -> list[int]:
    now = timezone.now()
    leads = Lead.objects.filter(campaign=campaign)
    figures = [
        leads.count(),
        leads.filter(closed=False, disposition__isnull=True).count(),
        leads.filter(closed=False, callback_at__lte=now).count(),
        leads.filter(closed=True).count(),
    ]
    for hour in range(24):
        start = now - dt.timedelta(hours=24 - hour)
        end = start + dt.timedelta(hours=1)
        figures.append(leads.filter(Q(created_at__gte=start), created_at__lt=end).count())
    return figures


def run(campaigns: int, leads: int) -> None:
    print(f"\n== dashboard: {campaigns} active campaigns of {leads:,} leads")
    made = seed(campaigns, leads)
    started = time.perf_counter()
    refreshed = campaign_stats_refresh()
    refresh_s = time.perf_counter() - started
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    client.get("/admin/")  # warm
    times = []
    for _ in range(LOADS):
        started = time.perf_counter()
        assert client.get("/admin/").status_code == 200
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    for campaign in made:
        naive_figures(campaign)
    naive_s = time.perf_counter() - started
    p50 = statistics.median(times)
    p95 = sorted(times)[int(LOADS * 0.95) - 1]
    print(f"  refresh of {refreshed} campaigns (beat, one pass): {refresh_s:6.2f} s")
    print(f"  home page with the dashboard: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    print(f"  naive: counting each figure at page time: {naive_s:6.2f} s per page "
          f"({naive_s / p50:.0f}x the page)")  # fmt: skip
