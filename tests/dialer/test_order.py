"""The cache's order and balance modes (domain.md §3) against a small pure-Python oracle on
generated data, through the real rebuild on the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigner.models import Allocation, Campaign
from dialer.models import CampaignCache
from dialer.order import AllocationLeads, Candidate, balance
from dialer.services import dialer_cache_refresh
from leads.models import Lead
from tests.dialer.conftest import ago, allocation, make_lead

CACHE_SIZE = 12

# One generated lead: priority, callback (None, or minutes ahead: negative is past), minutes
# since creation, closed, its only number blocked.
lead_specs = st.tuples(
    st.integers(0, 3),
    st.one_of(st.none(), st.integers(-120, 120)),
    st.integers(1, 5),  # few distinct creation times: ties reach the id tie-break
    st.sampled_from([False, False, False, True]),
    st.sampled_from([False, False, False, True]),
)
allocation_specs = st.tuples(st.integers(1, 4), st.lists(lead_specs, max_size=8))


def oracle(mode: str, allocations: list[tuple[Allocation, list[Lead]]], limit: int) -> list[int]:
    """domain.md §3 written out directly: filter, sort each allocation, combine."""

    def key(lead: Lead) -> tuple[Any, ...]:
        new = lead.callback_at is None
        return (lead.priority, not new, lead.callback_at if not new else dt.datetime.min,
                -lead.created_at.timestamp(), lead.pk)  # fmt: skip

    lists = [(a, sorted(leads, key=key)) for a, leads in sorted(allocations, key=lambda x: x[0].pk)]
    if mode == "priority":
        every = [lead for _, leads in lists for lead in leads]
        return [lead.pk for lead in sorted(every, key=key)][:limit]
    if mode == "round_robin":
        out = []
        for turn in range(max((len(ls) for _, ls in lists), default=0)):
            out += [ls[turn].pk for _, ls in lists if turn < len(ls)]
        return out[:limit]
    # weighted: the n-th lead (0-based) of an allocation of weight w is due at (n + 1) / w.
    slots = [((n + 1) / a.weight, a.pk, lead.pk) for a, ls in lists for n, lead in enumerate(ls)]
    return [lead_id for _, _, lead_id in sorted(slots)][:limit]


def eligible(lead: Lead, blocked: bool) -> bool:
    now = dt.datetime.now(dt.UTC)
    return not lead.closed and not blocked and (lead.callback_at is None or lead.callback_at <= now)


@pytest.fixture(autouse=True)
def _small_cache(settings: Any) -> None:
    settings.DIALER_CACHE_SIZE = CACHE_SIZE  # so the top-K cut is exercised


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["priority", "round_robin", "weighted"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(allocation_specs, min_size=1, max_size=3))
def test_rebuild_matches_the_oracle(
    campaign: Campaign, mode: str, specs: list[tuple[int, list[Any]]]
) -> None:
    Lead.objects.all().delete()
    campaign.allocations.all().delete()
    Campaign.objects.filter(pk=campaign.pk).update(balance_mode=mode)
    campaign.refresh_from_db()
    expected_input = []
    for index, (weight, leads) in enumerate(specs):
        made = allocation(campaign, name=f"A{index}", weight=weight)
        kept = []
        for priority, callback, age, closed, blocked in leads:
            callback_at = None if callback is None else ago(-callback)
            lead = make_lead(made, priority=priority, callback_at=callback_at,
                             created_at=ago(age), blocked=blocked, closed=closed)  # fmt: skip
            if eligible(lead, blocked):
                kept.append(lead)
        expected_input.append((made, kept))

    result = dialer_cache_refresh(campaign.pk)

    cache = CampaignCache.objects.get(pk=campaign.pk)
    got = list(
        cache.entries.filter(generation=cache.generation)
        .order_by("position")
        .values_list("lead_id", flat=True)
    )
    assert got == oracle(mode, expected_input, CACHE_SIZE)
    assert result is not None and result.size == len(got)


def _candidates(ids: range) -> list[Candidate]:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [Candidate(i, 10, None, created) for i in ids]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ((3, 1), "AAABAAAB"),
        ((5, 3), "ABAABAAB"),
        ((1, 1), "ABABABAB"),
        ((1, 2), "BABBABBA"),
    ],
)
def test_weighted_interleaves_evenly(weights: tuple[int, int], expected: str) -> None:
    a = AllocationLeads(1, weights[0], _candidates(range(100, 120)))
    b = AllocationLeads(2, weights[1], _candidates(range(200, 220)))
    order = balance("weighted", [a, b], 8)
    assert "".join("A" if i < 200 else "B" for i in order) == expected


def test_an_exhausted_allocation_drops_out_of_the_turn() -> None:
    a = AllocationLeads(1, 1, _candidates(range(100, 102)))
    b = AllocationLeads(2, 1, _candidates(range(200, 205)))
    assert balance("round_robin", [a, b], 10) == [100, 200, 101, 201, 202, 203, 204]
