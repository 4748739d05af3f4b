"""The dialer calls of the management API (domain.md §4): refresh, cache, next-lead, outcome,
eligibility; what a dialer would notice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigner.models import (
    Campaign,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
)
from leads.models import DispositionRecord, DncEntry, Lead, LeadPhone
from tests.dialer.conftest import ago, allocation, make_lead

pytestmark = pytest.mark.django_db


def refresh(client: Client, campaign: Campaign) -> dict[str, Any]:
    response = client.post(f"/api/v1/dialer/campaigns/{campaign.pk}/refresh")
    assert response.status_code == 200
    return dict(response.json())


def next_lead(client: Client, campaign: Campaign, agent: str = "agent 1") -> Any:
    return client.post(
        f"/api/v1/dialer/campaigns/{campaign.pk}/next-lead",
        {"agent": agent},
        content_type="application/json",
    )


def outcome(client: Client, lead: Lead, **body: Any) -> Any:
    return client.post(
        f"/api/v1/dialer/leads/{lead.pk}/outcome", body, content_type="application/json"
    )


def test_every_call_needs_a_staff_token(client: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    for method, url in [
        ("post", f"/api/v1/dialer/campaigns/{campaign.pk}/next-lead"),
        ("post", f"/api/v1/dialer/campaigns/{campaign.pk}/refresh"),
        ("get", f"/api/v1/dialer/campaigns/{campaign.pk}/cache"),
        ("post", f"/api/v1/dialer/leads/{lead.pk}/outcome"),
        ("get", f"/api/v1/leads/{lead.pk}/eligibility"),
    ]:
        assert getattr(client, method)(url).status_code == 401, url
        bad = getattr(client, method)(url, headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401, url


def test_refresh_cache_and_hand_out_in_order(dialer: Client, campaign: Campaign) -> None:
    main = allocation(campaign)
    old = make_lead(main, created_at=ago(60))
    new = make_lead(main, created_at=ago(1))
    urgent = make_lead(main, priority=1, created_at=ago(90))
    callback = make_lead(main, callback_at=ago(5), created_at=ago(200))

    result = refresh(dialer, campaign)
    assert result["size"] == 4 and result["durationMs"] >= 0
    cache = dialer.get(f"/api/v1/dialer/campaigns/{campaign.pk}/cache").json()
    assert cache["entries"] == [
        {"position": 1, "leadId": urgent.pk}, {"position": 2, "leadId": new.pk},
        {"position": 3, "leadId": old.pk}, {"position": 4, "leadId": callback.pk},
    ]  # fmt: skip
    assert (cache["campaignId"], cache["size"]) == (campaign.pk, 4)

    response = next_lead(dialer, campaign)
    assert response.status_code == 200
    body = response.json()
    phone = LeadPhone.objects.get(lead=urgent).number  # E.164; handed out as the PBX dials it
    assert phone.startswith("+613")
    assert body == {
        "leadId": urgent.pk, "externalId": None, "allocationId": main.pk, "phone": "0" + phone[3:],
        "fields": {"Name": "Lead"}, "version": 2, "checkedOutUntil": body["checkedOutUntil"],
    }  # fmt: skip
    until = dt.datetime.fromisoformat(body["checkedOutUntil"])
    assert 170 < (until - timezone.now()).total_seconds() <= 180
    urgent.refresh_from_db()
    assert (urgent.checked_out_by, urgent.checked_out_number) == ("agent 1", phone)

    handed = [next_lead(dialer, campaign).json()["leadId"] for _ in range(3)]
    assert handed == [new.pk, old.pk, callback.pk]
    assert next_lead(dialer, campaign).status_code == 204


def test_a_lead_inserted_after_the_rebuild_waits_for_the_next(
    dialer: Client, campaign: Campaign
) -> None:
    main = allocation(campaign)
    first = make_lead(main, created_at=ago(10))
    refresh(dialer, campaign)
    later = make_lead(main, priority=0)  # would come first

    assert next_lead(dialer, campaign).json()["leadId"] == first.pk
    assert next_lead(dialer, campaign).status_code == 204
    refresh(dialer, campaign)
    assert next_lead(dialer, campaign).json()["leadId"] == later.pk


def test_a_lead_that_became_ineligible_after_the_rebuild_is_never_handed_out(
    dialer: Client, campaign: Campaign
) -> None:
    main = allocation(campaign)
    closed, moved, dnc, fine = (make_lead(main, created_at=ago(50 - i)) for i in range(4))
    refresh(dialer, campaign)
    Lead.objects.filter(pk=closed.pk).update(closed=True)
    Lead.objects.filter(pk=moved.pk).update(callback_at=timezone.now() + dt.timedelta(hours=1))
    DncEntry.objects.create(number=LeadPhone.objects.get(lead=dnc).number)

    assert next_lead(dialer, campaign).json()["leadId"] == fine.pk
    assert next_lead(dialer, campaign).status_code == 204


def test_inactive_campaigns_and_stopped_allocations_are_not_dialed(
    dialer: Client, campaign: Campaign
) -> None:
    stopped = allocation(campaign, name="Stopped", started=False)
    make_lead(stopped)
    assert refresh(dialer, campaign)["size"] == 0
    started = allocation(campaign, name="Started")
    make_lead(started)
    assert refresh(dialer, campaign)["size"] == 1
    Campaign.objects.filter(pk=campaign.pk).update(active=False)
    assert next_lead(dialer, campaign).status_code == 204  # re-checked at hand-out
    assert refresh(dialer, campaign)["size"] == 0


def test_an_expired_check_out_releases_the_lead(
    dialer: Client, campaign: Campaign, settings: Any
) -> None:
    lead = make_lead(allocation(campaign))
    refresh(dialer, campaign)
    assert next_lead(dialer, campaign).json()["leadId"] == lead.pk
    refresh(dialer, campaign)
    assert next_lead(dialer, campaign).status_code == 204  # checked out: not cached

    Lead.objects.filter(pk=lead.pk).update(checked_out_until=ago(0.1))
    refresh(dialer, campaign)
    assert next_lead(dialer, campaign, agent="agent 2").json()["leadId"] == lead.pk
    assert outcome(dialer, lead, disposition="No Answer").status_code == 200


def test_outcome_applies_the_disposition_and_releases(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    refresh(dialer, campaign)
    next_lead(dialer, campaign)

    response = outcome(dialer, lead, disposition="no answer", callbackDate="2030/01/02 10:00",
                       notes="rang out")  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {
        "leadId": lead.pk, "version": 3, "disposition": "No Answer", "closed": False,
        "priority": 10, "callbackAt": "2030-01-01T23:00:00+00:00", "checkedOut": False,
    }  # fmt: skip
    lead.refresh_from_db()
    assert (lead.checked_out_by, lead.checked_out_until, lead.checked_out_number) == ("", None, "")
    record = DispositionRecord.objects.get()
    assert (record.source, record.agent, record.notes) == ("dialer", "agent 1", "rang out")
    assert record.dialed_number == LeadPhone.objects.get(lead=lead).number

    assert outcome(dialer, lead, disposition="Sale").status_code == 409  # no longer checked out


def test_outcome_refusals_change_nothing(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    assert outcome(dialer, lead, disposition="No Answer").status_code == 409
    refresh(dialer, campaign)
    next_lead(dialer, campaign)
    lead.refresh_from_db()
    assert outcome(dialer, lead, disposition="Nope").status_code == 400
    assert (
        outcome(dialer, lead, disposition="Sale", callbackDate="2030/02/30 10:00").status_code
        == 400
    )
    assert outcome(dialer, lead, notes="no disposition").status_code == 400
    missing = dialer.post("/api/v1/dialer/leads/999999/outcome", {"disposition": "Sale"},
                          content_type="application/json")  # fmt: skip
    assert missing.status_code == 404
    after = Lead.objects.get(pk=lead.pk)
    assert (after.version, after.disposition_id, after.checked_out_by) == (
        lead.version, None, "agent 1",
    )  # fmt: skip
    assert DispositionRecord.objects.count() == 0


def eligibility(client: Client, lead: Lead) -> dict[str, Any]:
    response = client.get(f"/api/v1/leads/{lead.pk}/eligibility")
    assert response.status_code == 200
    return dict(response.json())


def test_eligibility_explains_every_failing_rule(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    assert eligibility(dialer, lead)["eligible"] is True

    callback = timezone.now() + dt.timedelta(hours=2)
    Lead.objects.filter(pk=lead.pk).update(callback_at=callback)
    answer = eligibility(dialer, lead)
    assert answer["eligible"] is False
    assert [r["code"] for r in answer["reasons"]] == ["callback_in_future"]
    assert dt.datetime.fromisoformat(answer["nextEligibleAt"]) == callback

    Campaign.objects.filter(pk=campaign.pk).update(active=False)
    lead.allocation.started = False
    lead.allocation.save()
    Lead.objects.filter(pk=lead.pk).update(closed=True)
    LeadPhone.objects.filter(lead=lead).update(blocked=True)
    answer = eligibility(dialer, lead)
    assert [r["code"] for r in answer["reasons"]] == [
        "campaign_inactive", "allocation_stopped", "closed", "callback_in_future",
        "no_dialable_number",
    ]  # fmt: skip
    assert all(r["detail"] for r in answer["reasons"])
    assert answer["nextEligibleAt"] is None


def test_eligibility_outside_hours_and_on_closed_dates(dialer: Client, campaign: Campaign) -> None:
    zone = "Australia/Melbourne"
    hours = ContactHours.objects.create(name="Never today", timezone=zone)
    lead = make_lead(allocation(campaign), contact_hours=hours)
    now_local = timezone.now().astimezone(dt.UTC).astimezone(__import__("zoneinfo").ZoneInfo(zone))
    tomorrow = (now_local.weekday() + 1) % 7
    ContactHoursWindow.objects.create(contact_hours=hours, weekday=tomorrow, start_minute=540,
                                      end_minute=600)  # fmt: skip
    answer = eligibility(dialer, lead)
    assert [r["code"] for r in answer["reasons"]] == ["outside_contact_hours"]
    opens = dt.datetime.fromisoformat(answer["nextEligibleAt"])
    assert opens.astimezone(now_local.tzinfo).strftime("%H:%M") == "09:00"
    assert opens.astimezone(now_local.tzinfo).date() == now_local.date() + dt.timedelta(days=1)

    ContactHoursClosedDate.objects.create(contact_hours=hours, date=now_local.date())
    assert [r["code"] for r in eligibility(dialer, lead)["reasons"]] == ["closed_date"]
    assert refresh(dialer, campaign)["size"] == 0


def test_checked_out_leads_say_until_when(dialer: Client, campaign: Campaign) -> None:
    lead = make_lead(allocation(campaign))
    refresh(dialer, campaign)
    until = next_lead(dialer, campaign).json()["checkedOutUntil"]
    answer = eligibility(dialer, lead)
    assert [r["code"] for r in answer["reasons"]] == ["checked_out"]
    assert answer["nextEligibleAt"] == until


def test_the_admin_shows_the_current_cache_and_rebuilds_it(campaign: Campaign) -> None:
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from dialer.services import dialer_cache_refresh

    main = allocation(campaign)
    for i in range(3):
        make_lead(main, created_at=ago(i))
    dialer_cache_refresh(campaign.pk)
    dialer_cache_refresh(campaign.pk)
    operator = Client()
    operator.force_login(get_user_model().objects.create_superuser("op", "op@x.org", "pw"))
    page = operator.get(reverse("admin:dialer_campaigncache_change", args=[campaign.pk]))
    assert page.status_code == 200
    assert page.context["inline_admin_formsets"][0].formset.queryset.count() == 3
    response = operator.post(
        reverse("admin:dialer_campaigncache_changelist"),
        {"action": "rebuild_now", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert "Outbound: 3 leads in" in response.content.decode()
