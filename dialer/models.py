"""The dialer cache (domain.md §4): the next leads of each active campaign, in hand-out order.

It lives in PostgreSQL so every web process and host hands out from the same cache. A rebuild
writes a new ``generation`` of entries and switches ``CampaignCache.generation`` to it in one
transaction: readers see the old generation or the new one, never a mix or an empty gap. Old
generations are deleted afterwards. A handed-out entry is deleted by the hand-out.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from campaigner.models import Campaign
from leads.models import Lead


class CampaignCache(models.Model):
    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="dialer_cache"
    )
    generation = models.PositiveBigIntegerField(default=0)
    size = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        verbose_name = "dialer cache"
        ordering = ("campaign",)

    def __str__(self) -> str:
        return f"cache of {self.campaign}"


class CacheEntry(models.Model):
    # Both keys are served by the unique (cache, generation, position) index or need none:
    # every index costs each of the K rows a rebuild inserts.
    cache = models.ForeignKey(
        CampaignCache, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    generation = models.PositiveBigIntegerField()
    position = models.PositiveIntegerField()
    # No foreign key constraint: an entry is a hint that the hand-out re-checks, and a deleted
    # lead's entry is skipped like any stale one (a constraint would cost every rebuild).
    lead = models.ForeignKey(
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # Under Contact Hours read in the number's zone (ZoneMode): the number the rebuild chose
    # and the zones (comma separated) whose windows the hand-out checks again; a lead whose
    # first dialable number is another by then is skipped. NULL: the Contact Hours' own zone.
    number = models.CharField(max_length=17, null=True, blank=True)  # noqa: DJ001
    zones = models.TextField(null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ("cache", "generation", "position")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["cache", "generation", "position"], name="cache_entry_position"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.position}: lead {self.lead_id}"


class CampaignStats(models.Model):
    """A campaign's figures for the admin's dashboard, as of ``refreshed_at``.

    Counting a campaign of millions of leads is a scan, so the dashboard never counts: beat
    refreshes these every ``DASHBOARD_REFRESH_SECONDS`` with one pass over the active
    campaigns' leads (``dialer.stats.campaign_stats_refresh``), and the page only reads them.
    """

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="stats"
    )
    leads = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)  # open, never dispositioned
    callbacks_due = models.PositiveIntegerField(default=0)  # open, callback time passed
    closed = models.PositiveIntegerField(default=0)
    inserted_by_hour = models.JSONField(default=list)  # 24 counts, oldest hour first
    dispositions_today = models.PositiveIntegerField(default=0)  # since midnight UTC
    # The rest, as dialer.stats.campaign_stats_refresh makes it: the leads by dial state, by
    # allocation too, the dispositions of today and the last 7 days by name, the calls of each
    # of the last 24 hours, today's close rate.
    detail = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)  # of the refresh of all campaigns

    class Meta:
        verbose_name_plural = "campaign stats"

    def __str__(self) -> str:
        return f"figures of {self.campaign}"
