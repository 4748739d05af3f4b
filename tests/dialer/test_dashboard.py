"""The admin's dashboard (#16): the figures counted by the refresh, shown per active campaign
the user sees, and the page reading only the kept figures (no count over the leads)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigner.roles import OPERATOR
from dialer.models import CampaignStats
from dialer.stats import campaign_stats_refresh
from leads.models import ActionDelivery, DispositionRecord, Lead
from tests.factories import (
    AllocationFactory,
    CampaignFactory,
    DispositionFactory,
    LeadFactory,
    TeamFactory,
    TemplateFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_the_refresh_counts_each_active_campaign() -> None:
    now = timezone.now()
    allocation = AllocationFactory(campaign=CampaignFactory(name="Jan"))
    sale = DispositionFactory()
    LeadFactory(allocation=allocation)  # new
    LeadFactory(allocation=allocation, callback_at=now - dt.timedelta(minutes=5))  # due, new
    LeadFactory(allocation=allocation, closed=True, disposition=sale)
    done = LeadFactory(allocation=allocation, disposition=sale)
    DispositionRecord.objects.create(lead=done, disposition=sale, source="api")
    Lead.objects.filter(pk=done.pk).update(created_at=now - dt.timedelta(hours=3, minutes=30))
    Lead.objects.filter(closed=True).update(created_at=now - dt.timedelta(days=2))
    idle = CampaignFactory(name="Idle")
    CampaignFactory(name="Off", active=False)

    assert campaign_stats_refresh(now) == 2
    stats = CampaignStats.objects.get(campaign=allocation.campaign)
    assert (stats.leads, stats.new, stats.callbacks_due, stats.closed) == (4, 2, 1, 1)
    assert stats.dispositions_today == 1
    assert len(stats.inserted_by_hour) == 24 and sum(stats.inserted_by_hour) == 3
    assert stats.inserted_by_hour[-1] == 2 and stats.inserted_by_hour[-4] == 1
    assert CampaignStats.objects.get(campaign=idle).leads == 0
    assert not CampaignStats.objects.filter(campaign__name="Off").exists()


def test_the_home_page_shows_the_users_campaigns_from_the_kept_figures() -> None:
    mine = TemplateFactory(name="Solar")
    mine.teams.add(TeamFactory(name="Sales"))
    ours = AllocationFactory(campaign=CampaignFactory(template=mine, name="Jan16a"))
    theirs = AllocationFactory(campaign=CampaignFactory(name="Not ours"))
    for _ in range(3):
        LeadFactory(allocation=ours)
    LeadFactory(allocation=theirs)
    failed = LeadFactory(allocation=ours)
    ActionDelivery.objects.create(kind="email", lead=failed, payload={}, status="failed")
    campaign_stats_refresh()
    user = UserFactory(username="ops", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATOR), Group.objects.get(name="Sales"))
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/").content.decode()
    assert "Jan16a" in page and "Not ours" not in page
    assert 'class="fig-leads">4<' in page and "failed deliveries" in page
    assert "?status__exact=failed" in page  # the one failed delivery links to the list
    assert page.count('class="bar"') == 48  # inserts and calls per hour
    lead_scans = [q["sql"] for q in queries if 'FROM "leads_lead"' in q["sql"]]
    assert lead_scans == []  # the page never counts leads
    assert len(queries) < 15, [q["sql"] for q in queries]


def test_the_beat_refreshes_the_figures(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["campaign-stats-refresh"]
    assert entry["task"] == "dialer.tasks.campaign_stats_refresh_task"
    assert entry["options"]["expires"] == settings.DASHBOARD_REFRESH_SECONDS


def seeded_campaign(now: dt.datetime) -> tuple[Any, Any, Any]:
    """An active campaign whose leads stand in every dial state: two allocations (one
    stopped), Contact Hours open and never open, a DNC number and a blocked one."""
    from campaigner.models import ContactHours
    from leads.models import DncEntry, LeadPhone
    from tests.dialer.conftest import always_open

    template = TemplateFactory(name="Seeded", contact_hours=always_open())
    campaign = CampaignFactory(template=template, name="Seeded", active=True)
    running = AllocationFactory(campaign=campaign, name="Running", started=True)
    stopped = AllocationFactory(campaign=campaign, name="Stopped", started=False)
    never = ContactHours.objects.create(name="Never", timezone="Australia/Perth")
    DncEntry.objects.create(number="+61399990000")
    sale = DispositionFactory(final=True, contact=True, name="Sale")
    retry = DispositionFactory(name="No answer", disposition_set=sale.disposition_set)
    n = 0

    def lead(allocation: Any, number: str | None = None, blocked: bool = False, **kw: Any) -> Any:
        nonlocal n
        n += 1
        made = LeadFactory(allocation=allocation, **kw)
        LeadPhone.objects.create(
            lead=made, campaign=campaign, field_name="FirstPhone",
            number=number or f"+6138000{n:04d}", blocked=blocked,
        )  # fmt: skip
        return made

    for allocation in (running, stopped):
        for _ in range(3):
            lead(allocation)  # dialable (or stopped)
        lead(allocation, closed=True, disposition=sale)
        lead(allocation, closed=True, disposition=retry)  # its retry limit closed it
        lead(allocation, callback_at=now + dt.timedelta(hours=2))
        lead(allocation, callback_at=now - dt.timedelta(hours=1))  # due
        lead(allocation, checked_out_until=now + dt.timedelta(minutes=3), checked_out_by="a1")
        lead(allocation, number="+61399990000")  # on the DNC list
        lead(allocation, blocked=True)
        lead(allocation, contact_hours=never)
    for disposition, count in ((sale, 2), (retry, 3)):
        for _ in range(count):
            DispositionRecord.objects.create(
                lead=Lead.objects.filter(allocation=running).first(),
                disposition=disposition,
                source="api",
            )
    return campaign, running, stopped


def expected_state(lead: Lead, now: dt.datetime) -> str:
    """The dial state from the dialer's own eligibility reasons, the first in the state order."""
    from dialer.services import lead_eligibility

    codes = {reason.code for reason in lead_eligibility(lead.pk, now).reasons}
    codes |= {"outside_contact_hours"} if "closed_date" in codes else set()
    codes |= {"callback_future"} if "callback_in_future" in codes else set()
    from leads.sql import DIAL_STATES

    codes |= {"campaign_inactive"} if not lead.campaign.active else set()
    if "closed" in codes and not (lead.disposition and lead.disposition.final):
        codes = (codes - {"closed"}) | {"exhausted"}  # closed, but not by a final disposition
    return next((state for state in DIAL_STATES if state in codes), "dialable")


def test_the_dashboard_counts_each_dial_state_as_the_dialers_own_rules_and_links_to_them(
    admin_client: Client,
) -> None:
    now = timezone.now()
    campaign, running, stopped = seeded_campaign(now)
    CampaignFactory(name="Empty one", active=True)
    campaign_stats_refresh(now)
    detail = CampaignStats.objects.get(campaign=campaign).detail
    by_allocation = {a["name"]: a["states"] for a in detail["allocations"]}
    for allocation in (running, stopped):
        expected: dict[str, int] = {}
        for lead in Lead.objects.filter(allocation=allocation):
            state = expected_state(lead, now)
            expected[state] = expected.get(state, 0) + 1
        assert {k: v for k, v in by_allocation[allocation.name].items() if v} == expected
    assert detail["states"] == {
        "campaign_inactive": 0, "closed": 2, "exhausted": 2, "callback_future": 2,
        "checked_out": 2,
        "allocation_stopped": 7, "no_dialable_number": 2, "outside_contact_hours": 1, "dialable": 4,
    }  # fmt: skip
    assert (detail["leads"], detail["new"], detail["callbacks_due"]) == (22, 18, 2)
    assert detail["dispositions"]["today"] == {"Sale": 2, "No answer": 3}
    assert detail["dispositions"]["closeRate"] == 0.4
    assert detail["dispositions"]["contactRate"] == 0.4  # the sales reached a person
    # The page: each count links to the lead list of exactly those leads.
    page = admin_client.get("/admin/").content.decode()
    assert 'id="dashboard-empty"' in page and "Empty one" in page
    assert "dashboard-campaign-" + str(campaign.pk) in page
    for state, count in detail["states"].items():
        listed = admin_client.get(
            "/admin/leads/lead/", {"campaign__id__exact": campaign.pk, "state": state}
        )
        assert listed.status_code == 200
        ids = {lead.pk for lead in listed.context["cl"].queryset}
        assert len(ids) == count, state
        assert all(expected_state(Lead.objects.get(pk=i), timezone.now()) == state for i in ids)
    # A campaign switched off: its leads are in no dialer's reach, whatever else holds.
    campaign.active = False
    campaign.save()
    inactive = admin_client.get("/admin/leads/lead/", {"state": "campaign_inactive"})
    assert inactive.context["cl"].queryset.count() == 22
    dialable = admin_client.get("/admin/leads/lead/", {"state": "dialable"})
    assert dialable.context["cl"].queryset.count() == 0
