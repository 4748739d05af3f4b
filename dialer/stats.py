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

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigner.models import Campaign
from campaigner.selectors import scoped
from dialer.models import CampaignCache, CampaignStats
from leads.models import ActionDelivery, DispositionRecord, Lead

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


def campaign_stats_refresh(now: dt.datetime | None = None) -> int:
    """Recount every active campaign; returns how many. Campaigns without leads get zeros."""
    started = time.perf_counter()
    now = now or timezone.now()
    start = now.timestamp() - HOURS * 3600
    with connection.cursor() as cursor:
        cursor.execute(_LEAD_FIGURES, {"now": now, "start": start})
        rows = cursor.fetchall()
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    dispositions = dict(
        DispositionRecord.objects.filter(created_at__gte=midnight, lead__campaign__active=True)
        .values_list("lead__campaign_id")
        .annotate(n=Count("id"))
    )
    by_campaign = {row[0]: row for row in rows}
    active = list(Campaign.objects.filter(active=True).values_list("pk", flat=True))
    duration_ms = (time.perf_counter() - started) * 1000
    with transaction.atomic(durable=True):
        for campaign_id in active:
            row = by_campaign.get(campaign_id, (campaign_id, 0, 0, 0, 0, *[0] * HOURS))
            leads, new, due, closed = row[1:5]
            hourly = list(row[5:])
            CampaignStats.objects.update_or_create(
                campaign_id=campaign_id,
                defaults={
                    "leads": leads, "new": new, "callbacks_due": due, "closed": closed,
                    "inserted_by_hour": hourly,
                    "dispositions_today": dispositions.get(campaign_id, 0),
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
    def hourly_peak(self) -> int:
        return max(self.stats.inserted_by_hour or [0]) if self.stats else 0

    @property
    def bars(self) -> list[dict[str, Any]]:
        """The hourly inserts as bars of a small chart (heights in % of the peak)."""
        if self.stats is None:
            return []
        peak = self.hourly_peak or 1
        return [
            {"count": n, "height": round(100 * n / peak), "hours_ago": HOURS - i}
            for i, n in enumerate(self.stats.inserted_by_hour or [0] * HOURS)
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
