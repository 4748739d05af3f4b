"""The dialer cache's freshness for ``/health`` (domain.md §6)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from campaigner.models import Campaign

# A cache more than this many periods old means the periodic rebuild is not running.
STALE_PERIODS = 3


def dialer_cache_health() -> dict[str, Any]:
    """Every active campaign's cache rebuilt within ``STALE_PERIODS`` rebuild periods."""
    stale_after = STALE_PERIODS * settings.DIALER_REFRESH_SECONDS
    now = timezone.now()
    ages = {
        name: (now - refreshed).total_seconds() if refreshed else None
        for name, refreshed in Campaign.objects.filter(active=True).values_list(
            "name", "dialer_cache__refreshed_at"
        )
    }
    stale = sorted(name for name, age in ages.items() if age is None or age > stale_after)
    known = [age for age in ages.values() if age is not None]
    return {
        "ok": not stale,
        "staleAfterSeconds": stale_after,
        "oldestAgeSeconds": round(max(known), 1) if known else None,
        "staleCampaigns": stale[:20],
    }
