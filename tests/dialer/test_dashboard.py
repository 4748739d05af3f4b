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
    assert page.count('class="bar"') == 24
    lead_scans = [q["sql"] for q in queries if 'FROM "leads_lead"' in q["sql"]]
    assert lead_scans == []  # the page never counts leads
    assert len(queries) < 15, [q["sql"] for q in queries]


def test_the_beat_refreshes_the_figures(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["campaign-stats-refresh"]
    assert entry["task"] == "dialer.tasks.campaign_stats_refresh_task"
    assert entry["options"]["expires"] == settings.DASHBOARD_REFRESH_SECONDS
