"""The hand-out's check-out is written in PL/pgSQL (``dialer_next_lead``), every other write of
a lead by ``lead_write``. Both are the one versioned write: the version goes up by exactly one
and ``updated_at`` moves, a write of the version read before it is a conflict, and neither
writes over a lead someone else has checked out. This fails if either of them drifts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigner.models import Campaign
from dialer.services import dialer_cache_refresh, dialer_lead_next
from leads.models import Lead
from leads.services.lead_version import LeadConflict, lead_write
from tests.dialer.conftest import allocation, make_lead
from tests.factories import TESTS

pytestmark = pytest.mark.django_db


def _state(lead_id: int) -> tuple[int, dt.datetime, str]:
    lead = Lead.objects.get(pk=lead_id)
    return lead.version, lead.updated_at, lead.checked_out_by


def test_both_writes_bump_the_version_once_and_conflict_on_the_old_one(
    campaign: Campaign,
) -> None:
    lead = make_lead(allocation(campaign))
    version, updated, _ = _state(lead.pk)

    dialer_cache_refresh(campaign.pk)
    handed = dialer_lead_next(campaign.pk, "agent-7")

    assert handed is not None and handed.lead_id == lead.pk
    after_handout = _state(lead.pk)
    assert after_handout[0] == version + 1 == handed.version
    assert after_handout[1] > updated and after_handout[2] == "agent-7"
    with pytest.raises(LeadConflict):  # the version read before the hand-out is stale
        lead_write(lead.pk, version, {"priority": 1}, holder="agent-7", by=TESTS)
    assert (
        lead_write(lead.pk, version + 1, {"priority": 1}, holder="agent-7", by=TESTS) == version + 2
    )
    assert _state(lead.pk)[0] == version + 2


def test_neither_writes_over_a_lead_checked_out_by_someone_else(campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    dialer_cache_refresh(campaign.pk)
    until = timezone.now() + dt.timedelta(minutes=3)
    version = lead_write(
        lead.pk, lead.version, {"checked_out_by": "admin:jo", "checked_out_until": until}, by=TESTS
    )

    assert dialer_lead_next(campaign.pk, "agent-7") is None  # the hand-out skips it
    with pytest.raises(LeadConflict):
        lead_write(lead.pk, version, {"priority": 1}, holder="agent-7", by=TESTS)
    assert _state(lead.pk)[:1] == (version,) and _state(lead.pk)[2] == "admin:jo"
