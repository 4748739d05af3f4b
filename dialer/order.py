"""The dialer's order (domain.md §3), as pure functions over already-ordered allocations.

Within an allocation the database returns leads in order (the ``lead_dialer_order`` index):
priority, new leads before callbacks, callbacks earliest first, new leads newest first, id.
``order_key`` is that order in Python, for merging allocations and for the tests' oracle.

Across allocations, ``balance`` applies the campaign's mode:
- ``priority``: one merged order by ``order_key``;
- ``round_robin``: one lead from each allocation in turn (allocation id order);
- ``weighted``: each allocation's n-th lead is placed at "virtual time" n / weight and leads
  are taken by that time, ties by allocation id (stride scheduling). Weights 3:1 give
  A A A B A A A B …, and 5:3 give A B A A B A A B: proportional and evenly spread, not blocks.
An allocation that runs out simply drops out of the turn.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from campaigner.models import BalanceMode

_MIN = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Candidate:
    lead_id: int
    priority: int
    callback_at: dt.datetime | None
    created_at: dt.datetime


def order_key(c: Candidate) -> tuple[int, bool, dt.datetime, float, int]:
    """Sort key of domain.md §3 within one allocation (lower first)."""
    return (
        c.priority,
        c.callback_at is not None,  # new leads first
        c.callback_at or _MIN,  # callbacks earliest first
        -c.created_at.timestamp(),  # then newest first
        c.lead_id,
    )


@dataclass(frozen=True)
class AllocationLeads:
    allocation_id: int
    weight: int
    leads: Sequence[Candidate]  # already in order_key order


def balance(mode: str, allocations: Sequence[AllocationLeads], limit: int) -> list[int]:
    """The first ``limit`` lead ids across ``allocations`` under balance ``mode``."""
    ordered = sorted(allocations, key=lambda a: a.allocation_id)
    if mode == BalanceMode.PRIORITY:
        merged = heapq.merge(*(a.leads for a in ordered), key=order_key)
        return [c.lead_id for _, c in zip(range(limit), merged, strict=False)]
    if mode == BalanceMode.ROUND_ROBIN:
        return _interleave(ordered, limit, lambda a, n: Fraction(n + 1))
    return _interleave(ordered, limit, lambda a, n: Fraction(n + 1, max(a.weight, 1)))


def _interleave(
    allocations: Sequence[AllocationLeads],
    limit: int,
    slot: Callable[[AllocationLeads, int], Fraction],
) -> list[int]:
    """Take leads by (slot(allocation, n), allocation id), n = how many it has given."""
    heap = [(slot(a, 0), a.allocation_id, 0, a) for a in allocations if a.leads]
    heapq.heapify(heap)
    out: list[int] = []
    while heap and len(out) < limit:
        _, allocation_id, n, a = heapq.heappop(heap)
        out.append(a.leads[n].lead_id)
        if n + 1 < len(a.leads):
            heapq.heappush(heap, (slot(a, n + 1), allocation_id, n + 1, a))
    return out
