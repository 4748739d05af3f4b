"""The row version of a lead: the one way an existing lead is written (campaignapi.md §4.6).

Every write to a lead after its insert — a CampaignAPI update, an admin save, a dialer check-out
or outcome, a disposition action — goes through ``lead_write``. It is an optimistic lock:

- the caller read the lead at version ``v`` and computed new values from what it read;
- ``lead_write`` runs ``UPDATE … SET …, version = version + 1 WHERE id = … AND version = v``
  (and the lead is not checked out by someone else);
- if no row matched, another write got in between (or the lead is checked out): ``LeadConflict``,
  and nothing was written. The caller's transaction should then roll back whatever else it did.

Under READ COMMITTED, two writers of the same version serialise on the row lock; the second
re-reads the row after the first commits, sees the new version and matches nothing. So of N
concurrent writers of one version exactly one succeeds. The row stays locked by the winner
until its transaction ends, so writes that follow in the same transaction (phone numbers,
disposition records) are not interleaved with another writer's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from leads.models import Lead


class LeadConflict(Exception):
    """The lead changed since it was read, or someone else has it checked out."""


def checked_out_by_other(lead: Lead, holder: str | None, now: dt.datetime) -> bool:
    """Whether ``lead`` (as read) is checked out at ``now`` by someone other than ``holder``."""
    return (
        lead.checked_out_until is not None
        and lead.checked_out_until > now
        and (holder is None or lead.checked_out_by != holder)
    )


def lead_write(
    lead_id: int,
    expected_version: int,
    values: dict[str, Any],
    *,
    holder: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Write ``values`` (column → value) to the lead if it is still at ``expected_version`` and
    not checked out by anyone but ``holder``; return the new version.

    Raises ``LeadConflict`` (nothing written) otherwise. Not idempotent: each success bumps the
    version. Call it inside the transaction that does the rest of the write.
    """
    now = now or timezone.now()
    free = Q(checked_out_until__isnull=True) | Q(checked_out_until__lte=now)
    if holder is not None:
        free |= Q(checked_out_by=holder)
    updated = (
        Lead.objects.filter(free, pk=lead_id, version=expected_version)
        .update(**values, version=F("version") + 1, updated_at=now)
    )  # fmt: skip
    if updated != 1:
        raise LeadConflict(f"lead {lead_id} is no longer at version {expected_version}")
    return expected_version + 1
