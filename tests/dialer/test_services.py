"""The dialer's services at their own level (dialer/services.py): the cache rebuild, the
hand-out (a check-out with a version bump, never a lead twice), the outcome (the disposition,
the call record, the release) and the eligibility explanation. The HTTP tests
(test_dialer_api.py) hold the wire. Plain ``django_db``: each service owns one transaction
(``durable=True``), which the test's outer transaction allows."""

from __future__ import annotations

import pytest

from campaigner.contract import Refusal
from campaigner.models import Campaign
from dialer.services import (
    DialerError,
    dialer_cache_refresh,
    dialer_lead_next,
    dialer_outcome,
    lead_eligibility,
)
from leads.models import CallRecord, DncEntry, Lead
from leads.services.calls import CallDetails
from tests.dialer.conftest import ago, allocation, make_lead

pytestmark = pytest.mark.django_db


def test_the_hand_out_follows_the_dialer_order_and_never_repeats_a_lead(
    campaign: Campaign,
) -> None:
    """Priority (lowest first), then new leads before due callbacks (domain.md §3)."""
    a = allocation(campaign)
    later = make_lead(a, priority=50)
    due = make_lead(a, priority=1, callback_at=ago(5))
    new = make_lead(a, priority=1)
    make_lead(a, closed=True)
    refreshed = dialer_cache_refresh(campaign.pk)
    assert refreshed is not None and refreshed.size == 3
    handed = [dialer_lead_next(campaign.pk, "agent-1") for _ in range(4)]
    assert [h.lead_id if h else None for h in handed] == [new.pk, due.pk, later.pk, None]
    first = handed[0]
    assert first is not None
    lead = Lead.objects.get(pk=new.pk)
    assert (lead.checked_out_by, lead.version) == ("agent-1", first.version)
    assert first.version == new.version + 1


def test_a_number_listed_after_the_rebuild_is_not_handed_out(campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    dialer_cache_refresh(campaign.pk)
    DncEntry.objects.create(number=lead.phones.get().number)
    assert dialer_lead_next(campaign.pk) is None


def test_an_outcome_records_the_call_and_releases_the_lead(campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    dialer_cache_refresh(campaign.pk)
    handed = dialer_lead_next(campaign.pk, "agent-1")
    assert handed is not None
    written = dialer_outcome(lead.pk, "No Answer", call=CallDetails(duration_s=12))
    assert (written.checked_out_by, written.checked_out_until) == ("", None)
    assert written.version == handed.version + 1
    record = CallRecord.objects.get(lead=lead)
    assert (record.attempt, record.duration_s, record.agent) == (1, 12, "agent-1")
    assert record.dialed_number == lead.phones.get().number


@pytest.mark.parametrize(
    ("disposition", "checked_out", "reason"),
    [
        ("No Answer", False, Refusal.NOT_CHECKED_OUT),
        ("Nonsense", True, Refusal.INVALID),
    ],
)
def test_a_refused_outcome_writes_nothing(
    campaign: Campaign, disposition: str, checked_out: bool, reason: Refusal
) -> None:
    lead = make_lead(allocation(campaign))
    if checked_out:
        dialer_cache_refresh(campaign.pk)
        assert dialer_lead_next(campaign.pk) is not None
    before = Lead.objects.filter(pk=lead.pk).values().get()
    with pytest.raises(DialerError) as refused:
        dialer_outcome(lead.pk, disposition)
    assert refused.value.reason == reason
    assert Lead.objects.filter(pk=lead.pk).values().get() == before
    assert not CallRecord.objects.filter(lead=lead).exists()


def test_the_eligibility_names_every_reason_at_once(campaign: Campaign) -> None:
    stopped = allocation(campaign, "Stopped", started=False)
    lead = make_lead(stopped, closed=True, blocked=True)
    codes = {reason.code for reason in lead_eligibility(lead.pk).reasons}
    assert codes == {"allocation_stopped", "closed", "no_dialable_number"}
    ready = make_lead(allocation(campaign, "Running"))
    assert lead_eligibility(ready.pk).eligible
