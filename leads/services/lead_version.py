"""The row version of a lead: the one way an existing lead is written (campaignapi.md §4.6).

Every write to a lead after its insert — a CampaignAPI update, an admin save, a dialer outcome,
a disposition action — goes through ``lead_write``. The one exception is the dialer's hand-out,
which checks a lead out inside the database function ``dialer_next_lead`` (one round trip,
the row locked) with the same effect: version + 1, ``updated_at`` now, never over someone
else's check-out (``tests/dialer/test_handout_write_agrees.py`` holds the two to that).
It is an optimistic lock:

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
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from campaigner.contract import CampaignApiError, Code
from campaigner.sql import execute_prepared
from leads import sql
from leads.models import Door, Lead

# Columns a write may set; id, version, the writer and the times are the service's own.
WRITABLE = frozenset(f.column for f in Lead._meta.concrete_fields) - {
    "id",
    "version",
    "changed_via",
    "changed_by",
    "origin_id",
    "created_at",
    "updated_at",
}


@dataclass(frozen=True, slots=True)
class ChangeBy:
    """Who writes: the door and the API key name, user name, dialer agent, import or job. The
    lead's history records both with the change (``LeadChange``)."""

    via: Door
    by: str

    @property
    def columns(self) -> dict[str, str]:
        return {"changed_via": self.via.value, "changed_by": self.by[:150]}


class LeadConflict(CampaignApiError):
    """The lead changed since it was read, or someone else has it checked out: the contract's
    110, nothing written."""

    def __init__(self, detail: str) -> None:
        super().__init__(Code.LEAD_NOT_UPDATED_DUE_TO_CONFLICT, detail)


class CheckOut(Protocol):
    """What a check-out test needs of a lead: a model instance or a row read by SQL."""

    @property
    def checked_out_by(self) -> str: ...
    @property
    def checked_out_until(self) -> dt.datetime | None: ...


def checked_out_by_other(lead: CheckOut, holder: str | None, now: dt.datetime) -> bool:
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
    by: ChangeBy,
    holder: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Write ``values`` (column name → value, e.g. ``allocation_id``; ``fields`` a dict) to the
    lead if it is still at ``expected_version`` and not checked out by anyone but ``holder``;
    return the new version. ``by`` is recorded with the change in the lead's history.

    Raises ``LeadConflict`` (nothing written) otherwise. Not idempotent: each success bumps the
    version. Call it inside the transaction that does the rest of the write.
    """
    unknown = set(values) - WRITABLE
    if unknown:
        raise ValueError(f"not writable lead columns: {sorted(unknown)}")
    now = now or timezone.now()
    # SQL rather than the ORM: every update, hand-out and outcome runs this (~0.1 ms vs ~1 ms).
    values = {**values, **by.columns}
    params: list[Any] = [Jsonb(v) if column == "fields" else v for column, v in values.items()]
    with connection.cursor() as cursor:
        execute_prepared(
            cursor,
            sql.lead_write_sql(values),
            [*params, now, lead_id, expected_version, now, holder],
        )
        if cursor.rowcount != 1:
            raise LeadConflict(f"lead {lead_id} is no longer at version {expected_version}")
    return expected_version + 1
