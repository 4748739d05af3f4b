"""One set of eligibility rules, three readers: over generated leads and clocks,
``lead_eligibility`` (the Python explanation) says a lead is eligible exactly when a cache
rebuild (``dialer.sql.NEXT_LEADS``) caches it and exactly when the hand-out
(``dialer_next_lead``) gives it out; also with Contact Hours read in the number's zone
(``ZoneMode``), for numbers of one zone (Sydney, Brisbane), two (Adelaide or Perth) and a
mobile's eight."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigner.models import (
    Allocation,
    Campaign,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
    ZoneMode,
)
from dialer.models import CacheEntry, CampaignCache
from dialer.services import dialer_cache_refresh, dialer_lead_next, lead_eligibility
from leads.models import DncEntry, Lead, LeadPhone
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db

_names = itertools.count()
ZONES = ["Australia/Melbourne", "America/Los_Angeles", "UTC"]
# Each value is drawn with the one that passes its rule more often than the others, so that
# most leads fail one rule at most and every rule is the deciding one in some example.
MOSTLY = st.sampled_from([True, True, True, False])
# Offsets from now in minutes, far enough from it that the readers' clocks agree.
WHEN = st.sampled_from([None, None, -90, 90])
HOURS = st.sampled_from(["open", "open", "none", "shut", "closed_today"])
PREFIXES = ["+614", "+613", "+617", "+618"]  # a mobile; Sydney; Brisbane; Adelaide or Perth

lead_specs = st.fixed_dictionaries(
    {
        "closed": MOSTLY.map(lambda passes: not passes),
        "callback": WHEN,
        "checked_out": WHEN,
        "hours": st.sampled_from(["template", "template", "open", "shut", "closed_today"]),
        "phones": st.lists(
            st.sampled_from(["ok", "ok", "blocked", "dnc", "dnc_expired"]), min_size=1, max_size=2
        ),
        "prefix": st.sampled_from(PREFIXES),
        "priority": st.integers(0, 100),
    }
)


def contact_hours(kind: str, zone: str, mode: str = ZoneMode.HOURS) -> ContactHours | None:
    if kind == "none":
        return None
    hours = ContactHours.objects.create(name=f"H{next(_names)}", timezone=zone, zone_mode=mode)
    if kind != "shut":
        ContactHoursWindow.objects.bulk_create(
            ContactHoursWindow(contact_hours=hours, weekday=d, start_minute=0, end_minute=1440)
            for d in range(7)
        )
    if kind == "closed_today":
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(zone)).date()
        ContactHoursClosedDate.objects.create(contact_hours=hours, date=today)
    return hours


def make_lead(
    allocation: Allocation, spec: dict[str, Any], zone: str, mode: str, now: dt.datetime
) -> Lead:
    def at(minutes: int | None) -> dt.datetime | None:
        return None if minutes is None else now + dt.timedelta(minutes=minutes)

    own = None if spec["hours"] == "template" else contact_hours(spec["hours"], zone, mode)
    lead = Lead.objects.create(
        campaign=allocation.campaign,
        allocation=allocation,
        fields={"Name": "Generated"},
        priority=spec["priority"],
        closed=spec["closed"],
        callback_at=at(spec["callback"]),
        checked_out_until=at(spec["checked_out"]),
        checked_out_by="agent" if spec["checked_out"] else "",
        contact_hours=own,
    )
    for field, kind in zip(("FirstPhone", "SecondPhone"), spec["phones"], strict=False):
        number = f"{spec['prefix']}{next(_names) % 10**8:08d}"
        LeadPhone.objects.create(
            lead=lead, campaign=lead.campaign, field_name=field, number=number,
            blocked=kind == "blocked",
        )  # fmt: skip
        if kind.startswith("dnc"):
            expires = now.date() - dt.timedelta(days=1) if kind == "dnc_expired" else None
            DncEntry.objects.create(number=number, expires_on=expires)
    return lead


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    zone=st.sampled_from(ZONES),
    mode=st.sampled_from(ZoneMode.values),
    template_hours=HOURS,
    active=MOSTLY,
    started=MOSTLY,
    specs=st.lists(lead_specs, min_size=1, max_size=6),
)
def test_eligibility_cache_and_hand_out_agree(  # noqa: PLR0917 (drawn by hypothesis)
    zone: str,
    mode: str,
    template_hours: str,
    active: bool,
    started: bool,
    specs: list[dict[str, Any]],
) -> None:
    now = timezone.now()
    template = TemplateFactory(
        name=f"T{next(_names)}", contact_hours=contact_hours(template_hours, zone, mode)
    )
    campaign = Campaign.objects.create(template=template, name=f"C{next(_names)}", active=active)
    allocation = Allocation.objects.create(campaign=campaign, name="A", started=started)
    leads = [make_lead(allocation, spec, zone, mode, now) for spec in specs]

    eligible = {lead.pk for lead in leads if lead_eligibility(lead.pk, timezone.now()).eligible}

    dialer_cache_refresh(campaign.pk)
    generation = CampaignCache.objects.get(pk=campaign.pk).generation
    cached = set(
        CacheEntry.objects.filter(cache_id=campaign.pk, generation=generation).values_list(
            "lead_id", flat=True
        )
    )
    assert cached == eligible

    handed = set()
    while (handout := dialer_lead_next(campaign.pk, "agent-x")) is not None:
        handed.add(handout.lead_id)
    assert handed == eligible
