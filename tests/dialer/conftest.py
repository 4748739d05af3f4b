"""A dialer test setup: a campaign whose Contact Hours are open all week, leads with numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigner.models import (
    Allocation,
    Campaign,
    ContactHours,
    ContactHoursWindow,
    Disposition,
)
from leads.models import Lead, LeadPhone
from tests.factories import ApiTokenFactory, TemplateFactory

_numbers = iter(range(10**8))


def always_open(name: str = "Always", zone: str = "Australia/Melbourne") -> ContactHours:
    hours = ContactHours.objects.create(name=name, timezone=zone)
    for day in range(7):
        ContactHoursWindow.objects.create(
            contact_hours=hours, weekday=day, start_minute=0, end_minute=1440
        )
    return hours


TOKEN = "dialer-token-000000000000"


@pytest.fixture
def dialer(client: Client) -> Client:
    """A client of the dialer: a staff user's bearer token on every request."""
    ApiTokenFactory(plain=TOKEN, user__username="pbx", user__is_superuser=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


@pytest.fixture
def campaign(db: Any) -> Campaign:
    template = TemplateFactory(name="Dialer", contact_hours=always_open())
    campaign = Campaign.objects.create(template=template, name="Outbound")
    Disposition.objects.create(disposition_set=template.disposition_set, name="No Answer")
    Disposition.objects.create(disposition_set=template.disposition_set, name="Sale", final=True)
    return campaign


def allocation(campaign: Campaign, name: str = "A", **kwargs: Any) -> Allocation:
    return Allocation.objects.create(campaign=campaign, name=name, **{"started": True, **kwargs})


def make_lead(
    allocation: Allocation,
    *,
    priority: int = 10,
    callback_at: dt.datetime | None = None,
    created_at: dt.datetime | None = None,
    blocked: bool = False,
    **kwargs: Any,
) -> Lead:
    lead = Lead.objects.create(
        campaign=allocation.campaign,
        allocation=allocation,
        fields={"Name": "Lead"},
        priority=priority,
        callback_at=callback_at,
        **kwargs,
    )
    if created_at is not None:
        Lead.objects.filter(pk=lead.pk).update(created_at=created_at)
        lead.created_at = created_at
    LeadPhone.objects.create(
        lead=lead,
        campaign=allocation.campaign,
        field_name="FirstPhone",
        number=f"+613{next(_numbers):08d}",  # E.164, as stored
        blocked=blocked,
    )
    return lead


def ago(minutes: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=minutes)
