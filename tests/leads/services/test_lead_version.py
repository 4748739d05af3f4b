"""The versioned write at its own level (leads/services/lead_version.py): every door's change
to a lead is one conditional UPDATE, so of two writers that read the same version exactly one
wins, and a lead checked out by someone else is not written."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from leads.models import Lead
from leads.services import lead_version
from leads.services.lead_version import LeadConflict, checked_out_by_other, lead_write
from tests.concurrency import in_threads, meet_before
from tests.factories import TESTS, LeadFactory


def state(lead_id: int) -> tuple[Any, ...]:
    lead = Lead.objects.get(pk=lead_id)
    return lead.version, lead.priority, lead.fields, lead.checked_out_by


@pytest.mark.django_db
def test_a_write_at_the_read_version_bumps_it_and_a_stale_one_writes_nothing() -> None:
    lead = LeadFactory.create(fields={"Name": "Jane"})
    assert lead_write(lead.pk, lead.version, {"priority": 3}, by=TESTS) == lead.version + 1
    before = state(lead.pk)
    with pytest.raises(LeadConflict) as conflict:
        lead_write(lead.pk, lead.version, {"priority": 9, "fields": {"Name": "Late"}}, by=TESTS)
    assert conflict.value.code == 110
    assert state(lead.pk) == before


@pytest.mark.django_db
def test_a_check_out_by_another_holds_the_lead_until_it_expires() -> None:
    now = timezone.now()
    lead = LeadFactory.create(
        checked_out_by="agent-1", checked_out_until=now + dt.timedelta(minutes=3)
    )
    with pytest.raises(LeadConflict):
        lead_write(lead.pk, lead.version, {"priority": 2}, by=TESTS)
    with pytest.raises(LeadConflict):
        lead_write(lead.pk, lead.version, {"priority": 2}, holder="agent-2", by=TESTS)
    version = lead_write(lead.pk, lead.version, {"priority": 2}, holder="agent-1", by=TESTS)
    later = now + dt.timedelta(minutes=4)
    assert lead_write(lead.pk, version, {"priority": 4}, now=later, by=TESTS) == version + 1
    assert checked_out_by_other(Lead.objects.get(pk=lead.pk), None, now) is True
    assert checked_out_by_other(Lead.objects.get(pk=lead.pk), None, later) is False


@pytest.mark.django_db
def test_only_lead_columns_it_knows_are_writable() -> None:
    lead = LeadFactory.create()
    with pytest.raises(ValueError, match="not writable"):
        lead_write(lead.pk, lead.version, {"version": 99}, by=TESTS)
    with pytest.raises(ValueError, match="not writable"):
        lead_write(lead.pk, lead.version, {"nonsense": 1}, by=TESTS)


@pytest.mark.django_db(transaction=True)
def test_of_writers_racing_from_one_version_exactly_one_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lead = LeadFactory.create(fields={"Name": "Jane"})
    racers = 4
    meet_before(monkeypatch, lead_version, "execute_prepared", racers)

    def write(i: int) -> str:
        try:
            with transaction.atomic():
                lead_write(lead.pk, lead.version, {"fields": {"Name": f"racer {i}"}}, by=TESTS)
        except LeadConflict:
            return "lost"
        return "won"

    results = in_threads(racers, write, together=True)
    assert sorted(results) == ["lost"] * (racers - 1) + ["won"]
    version, _, fields, _ = state(lead.pk)
    assert version == lead.version + 1
    assert fields == {"Name": f"racer {results.index('won')}"}
