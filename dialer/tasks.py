"""Celery tasks of the dialer: thin interfaces over ``dialer.services`` and ``dialer.stats``."""

from __future__ import annotations

from celery import shared_task

from dialer.services import dialer_cache_refresh, dialer_cache_refresh_all
from dialer.stats import campaign_stats_refresh


@shared_task(ignore_result=True)
def dialer_cache_refresh_all_task() -> dict[str, int | None]:
    """Beat, every ``DIALER_REFRESH_SECONDS``: rebuild every active campaign's cache. Beat
    misfires or several workers are harmless: a campaign being rebuilt is skipped."""
    results = dialer_cache_refresh_all()
    return {str(cid): (r.size if r else None) for cid, r in results.items()}


@shared_task(ignore_result=True)
def dialer_cache_refresh_task(campaign_id: int) -> int | None:
    """One campaign's cache rebuilt now (after a rebuild already running), e.g. once an import
    into it has finished (``leads.services.lead_import``)."""
    result = dialer_cache_refresh(campaign_id, wait=True)
    return result.size if result else None


@shared_task(ignore_result=True)
def campaign_stats_refresh_task() -> int:
    """Beat, every ``DASHBOARD_REFRESH_SECONDS``: the dashboard's figures of every active
    campaign."""
    return campaign_stats_refresh()
