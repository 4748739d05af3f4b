"""The dashboard's figures (domain.md §5.4), kept in ``CampaignStats``.

``campaign_stats_refresh`` counts every active campaign in one pass over their leads (one
sequential scan: a count per figure would be a scan each) and one over today's disposition
records; beat runs it every ``DASHBOARD_REFRESH_SECONDS``. ``dashboard(user)`` is what the
admin's home page shows: for each active campaign the user sees, those figures, its dialer
cache and its failing deliveries; a few small queries whatever the number of leads.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db import connection, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from campaigner.models import Allocation, Campaign, CampaignTemplate, Disposition
from campaigner.selectors import scoped
from dialer.models import CampaignCache, CampaignStats
from leads.models import ActionDelivery, CallRecord, DispositionRecord, Lead
from leads.sql import DIAL_STATES, DIALABLE_LEADS, OPEN_CONTACT_HOURS, dial_state

HOURS = 24

# One pass over the active campaigns' leads: the counts, and the inserts of each of the last 24
# hours (hour 0 the oldest; %(start)s is its start, in epoch seconds).
# The last hour has no upper bound: a lead stamped a moment after ``now`` counts in it.
_HOURLY = ",\n".join(
    f"count(*) FILTER (WHERE l.created_at >= to_timestamp(%(start)s + {h * 3600})"
    + (f" AND l.created_at < to_timestamp(%(start)s + {(h + 1) * 3600}))" if h < HOURS - 1 else ")")
    for h in range(HOURS)
)
_LEAD_FIGURES = f"""
SELECT l.campaign_id, count(*),
       count(*) FILTER (WHERE NOT l.closed AND l.disposition_id IS NULL),
       count(*) FILTER (WHERE NOT l.closed AND l.callback_at <= %(now)s),
       count(*) FILTER (WHERE l.closed),
       {_HOURLY}
FROM {Lead._meta.db_table} l
JOIN {Campaign._meta.db_table} c ON c.id = l.campaign_id AND c.active
GROUP BY l.campaign_id
"""  # noqa: S608 (model names and constants)


# One more pass: the active campaigns' leads by allocation and dial state (leads.sql). Whether a
# lead has a number to ring is a join with the set of leads that have one (a hash join, which
# spills to disk in batches when the set is large), not a look-up per lead or a hashed subquery
# that must fit in memory.
_STATE = dial_state(
    "l", active="c.active", started="a.started", default_hours="t.contact_hours_id",
    dialable="dn.lead_id IS NOT NULL", final="d.final",
)  # fmt: skip
_STATE_FIGURES = f"""
SELECT l.campaign_id, l.allocation_id, {_STATE},
       count(*), count(*) FILTER (WHERE NOT l.closed AND l.disposition_id IS NULL),
       count(*) FILTER (WHERE NOT l.closed AND l.callback_at <= %(now)s)
FROM {Lead._meta.db_table} l
JOIN {Campaign._meta.db_table} c ON c.id = l.campaign_id AND c.active
JOIN {CampaignTemplate._meta.db_table} t ON t.id = c.template_id
JOIN {Allocation._meta.db_table} a ON a.id = l.allocation_id
LEFT JOIN ({DIALABLE_LEADS}) dn ON dn.lead_id = l.id
LEFT JOIN {Disposition._meta.db_table} d ON d.id = l.disposition_id
GROUP BY 1, 2, 3
"""  # noqa: S608 (model names and constants)
# The calls of each of the last 24 hours (hour 0 the oldest), by campaign.
_CALLS_BY_HOUR = f"""
SELECT campaign_id, floor((extract(epoch FROM called_at) - %(start)s) / 3600)::int, count(*)
FROM {CallRecord._meta.db_table}
WHERE called_at >= to_timestamp(%(start)s) AND campaign_id = ANY(%(campaigns)s)
GROUP BY 1, 2
"""  # noqa: S608


def _state_figures(now: dt.datetime) -> dict[int, dict[str, Any]]:
    """{campaign: {"states", "new", "callbacks_due", "allocations": [...]}} of the leads."""
    with connection.cursor() as cursor:
        cursor.execute(OPEN_CONTACT_HOURS, [now])
        open_hours = [row[0] for row in cursor.fetchall()]
        cursor.execute(_STATE_FIGURES, {"now": now, "open": open_hours})
        rows = cursor.fetchall()
    names = dict(Allocation.objects.values_list("pk", "name"))
    started = dict(Allocation.objects.values_list("pk", "started"))
    figures: dict[int, dict[str, Any]] = {}
    allocations: dict[tuple[int, int], dict[str, Any]] = {}
    for campaign_id, allocation_id, state, n, new, due in rows:
        for figure in (
            figures.setdefault(campaign_id, _empty_figure()),
            allocations.setdefault(
                (campaign_id, allocation_id),
                {
                    **_empty_figure(),
                    "id": allocation_id,
                    "name": names.get(allocation_id, ""),
                    "started": started.get(allocation_id, False),
                },
            ),
        ):
            figure["states"][state] += n
            figure["leads"] += n
            figure["new"] += new
            figure["callbacks_due"] += due
    for (campaign_id, _), allocation in sorted(allocations.items()):
        figures[campaign_id].setdefault("allocations", []).append(allocation)
    return figures


def _empty_figure() -> dict[str, Any]:
    return {"states": dict.fromkeys(DIAL_STATES, 0), "leads": 0, "new": 0, "callbacks_due": 0}


def _disposition_figures(now: dt.datetime) -> dict[int, dict[str, Any]]:
    """{campaign: {"today": {name: n}, "week": {name: n}, "closeRate", "contactRate"}} of the
    dispositions set since midnight UTC and over the last 7 days: the rates are the shares of
    today's that are final and that reached the person (``Disposition.contact``), or None."""
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        DispositionRecord.objects.filter(
            created_at__gte=now - dt.timedelta(days=7), lead__campaign__active=True
        )
        .values_list(
            "lead__campaign_id", "disposition__name", "disposition__final", "disposition__contact"
        )
        .annotate(week=Count("id"), today=Count("id", filter=Q(created_at__gte=midnight)))
    )
    figures: dict[int, dict[str, Any]] = {}
    for campaign_id, name, final, contact, week, today in rows:
        figure = figures.setdefault(
            campaign_id, {"today": {}, "week": {}, "closing_today": 0, "contacts_today": 0}
        )
        figure["week"][name] = figure["week"].get(name, 0) + week
        if today:
            figure["today"][name] = figure["today"].get(name, 0) + today
            figure["closing_today"] += today if final else 0
            figure["contacts_today"] += today if contact else 0
    for figure in figures.values():
        total = sum(figure["today"].values())
        for rate, count in (("closeRate", "closing_today"), ("contactRate", "contacts_today")):
            figure[rate] = round(figure.pop(count) / total, 3) if total else None
    return figures


def _calls_by_hour(start: float, campaigns: list[int]) -> dict[int, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute(_CALLS_BY_HOUR, {"start": start, "campaigns": campaigns})
        rows = cursor.fetchall()
    hours: dict[int, list[int]] = {}
    for campaign_id, hour, n in rows:
        hours.setdefault(campaign_id, [0] * HOURS)[min(max(hour, 0), HOURS - 1)] += n
    return hours


def campaign_stats_refresh(now: dt.datetime | None = None) -> int:
    """Recount every active campaign; returns how many. Campaigns without leads get zeros."""
    started = time.perf_counter()
    now = now or timezone.now()
    start = now.timestamp() - HOURS * 3600
    with connection.cursor() as cursor:
        cursor.execute(_LEAD_FIGURES, {"now": now, "start": start})
        rows = cursor.fetchall()
    states = _state_figures(now)
    dispositions = _disposition_figures(now)
    by_campaign = {row[0]: row for row in rows}
    active = list(Campaign.objects.filter(active=True).values_list("pk", flat=True))
    calls = _calls_by_hour(start, active)
    duration_ms = (time.perf_counter() - started) * 1000
    with transaction.atomic(durable=True):
        for campaign_id in active:
            row = by_campaign.get(campaign_id, (campaign_id, 0, 0, 0, 0, *[0] * HOURS))
            leads, new, due, closed = row[1:5]
            hourly = list(row[5:])
            disposed = dispositions.get(
                campaign_id, {"today": {}, "week": {}, "closeRate": None, "contactRate": None}
            )
            detail = {
                **states.get(campaign_id, {**_empty_figure(), "allocations": []}),
                "dispositions": disposed,
                "callsByHour": calls.get(campaign_id, [0] * HOURS),
            }
            CampaignStats.objects.update_or_create(
                campaign_id=campaign_id,
                defaults={
                    "leads": leads, "new": new, "callbacks_due": due, "closed": closed,
                    "inserted_by_hour": hourly,
                    "dispositions_today": sum(disposed["today"].values()),
                    "detail": detail,
                    "refreshed_at": now, "duration_ms": duration_ms,
                },
            )  # fmt: skip
    return len(active)


@dataclass
class CampaignFigures:
    campaign: Campaign
    stats: CampaignStats | None
    cache: CampaignCache | None
    failing_deliveries: int
    retrying_deliveries: int

    @property
    def empty(self) -> bool:
        """No lead (yet): folded into one line of the dashboard."""
        return self.stats is not None and self.stats.leads == 0

    @property
    def detail(self) -> dict[str, Any]:
        return (self.stats.detail if self.stats else None) or {}

    def _leads_url(self, **filters: Any) -> str:
        query = {"campaign__id__exact": self.campaign.pk, **filters}
        return f"{reverse('admin:leads_lead_changelist')}?{urlencode(query)}"

    def _states(self, figure: dict[str, Any], **filters: Any) -> list[dict[str, Any]]:
        counts = figure.get("states", {})
        return [
            {
                "code": code,
                "label": label,
                "count": counts.get(code, 0),
                "url": self._leads_url(state=code, **filters),
            }
            for code, label in DIAL_STATES.items()
            if code != "campaign_inactive"  # the dashboard shows active campaigns only
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        """The leads by dial state, each with the lead list of those leads."""
        return self._states(self.detail)

    @property
    def allocations(self) -> list[dict[str, Any]]:
        return [
            {
                **allocation,
                "url": self._leads_url(allocation__id__exact=allocation["id"]),
                "state_counts": self._states(allocation, allocation__id__exact=allocation["id"]),
            }
            for allocation in self.detail.get("allocations", [])
        ]

    @property
    def dispositions(self) -> list[tuple[str, int, int]]:
        """(name, today, last 7 days) of each disposition set in the last 7 days, most first."""
        figures = self.detail.get("dispositions", {})
        today, week = figures.get("today", {}), figures.get("week", {})
        return sorted(
            ((name, today.get(name, 0), n) for name, n in week.items()), key=lambda r: -r[2]
        )

    @property
    def close_rate(self) -> str:
        return self._rate("closeRate")

    @property
    def contact_rate(self) -> str:
        return self._rate("contactRate")

    def _rate(self, name: str) -> str:
        rate = self.detail.get("dispositions", {}).get(name)
        return "—" if rate is None else f"{rate:.0%}"

    @property
    def calls_last_hour(self) -> int:
        return int((self.detail.get("callsByHour") or [0])[-1])

    @property
    def call_bars(self) -> list[dict[str, Any]]:
        return _bars(self.detail.get("callsByHour") or [0] * HOURS)

    @property
    def hourly_peak(self) -> int:
        return max(self.stats.inserted_by_hour or [0]) if self.stats else 0

    @property
    def bars(self) -> list[dict[str, Any]]:
        """The hourly inserts as bars of a small chart (heights in % of the peak)."""
        if self.stats is None:
            return []
        return _bars(self.stats.inserted_by_hour or [0] * HOURS)


def _bars(counts: list[int]) -> list[dict[str, Any]]:
    """Hourly counts (oldest first) as bars of a small chart, heights in % of the peak."""
    peak = max(counts) or 1
    return [
        {"count": n, "height": round(100 * n / peak), "hours_ago": HOURS - i}
        for i, n in enumerate(counts)
    ]


def dashboard(user: Any) -> list[CampaignFigures]:
    campaigns = scoped(Campaign.objects.filter(active=True), user, "template").order_by("name")
    campaigns = campaigns.select_related("stats", "dialer_cache", "template")
    ids = [c.pk for c in campaigns]
    deliveries = {
        row["lead__campaign_id"]: row
        for row in ActionDelivery.objects.filter(
            lead__campaign_id__in=ids, status__in=["failed", "retrying"]
        )
        .values("lead__campaign_id")
        .annotate(
            failed=Count("id", filter=Q(status="failed")),
            retrying=Count("id", filter=Q(status="retrying")),
        )
    }
    return [
        CampaignFigures(
            campaign=c,
            stats=getattr(c, "stats", None),
            cache=getattr(c, "dialer_cache", None),
            failing_deliveries=deliveries.get(c.pk, {}).get("failed", 0),
            retrying_deliveries=deliveries.get(c.pk, {}).get("retrying", 0),
        )
        for c in campaigns
    ]
