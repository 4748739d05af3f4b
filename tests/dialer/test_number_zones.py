"""Contact Hours read in the number's own zone (``ZoneMode``): a Perth landline (libphonenumber:
Adelaide or Perth), a Melbourne landline (Sydney), a Brisbane landline (no daylight saving) and
a mobile (every Australian zone), at fixed instants where their clocks disagree, through
eligibility and the cache rebuild; the hand-out's SQL check against its Python twin; and a
real hand-out."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from campaigner.models import Campaign, ContactHours, ContactHoursWindow, ZoneMode
from dialer.schedule import schedule_load
from dialer.services import _next_leads, dialer_cache_refresh, dialer_lead_next, lead_eligibility
from leads.models import Lead, LeadPhone
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db

MELBOURNE = zoneinfo.ZoneInfo("Australia/Melbourne")
NUMBERS = {"perth": "+61893812222", "melbourne": "+61393812222", "brisbane": "+61733331111",
           "mobile": "+61412345678"}  # fmt: skip


def at(hour: int, minute: int = 0) -> dt.datetime:
    """Monday 7 December 2026 in Melbourne (daylight saving: UTC+11)."""
    return dt.datetime(2026, 12, 7, hour, minute, tzinfo=MELBOURNE)


# When each number is open under "09:00-17:00 every day", read in its zones (strict: all).
# Melbourne 09:30: Brisbane 08:30, Perth 06:30. 17:30: Brisbane 16:30, Adelaide 17:00, Perth
# 14:30. 12:00: Perth 09:00, Adelaide 11:30. 14:00: Cocos 09:30, Christmas 10:00.
STRICT = {
    at(9, 30): {"melbourne"},
    at(17, 30): {"brisbane"},
    at(12): {"melbourne", "brisbane", "perth"},
    at(14): {"melbourne", "brisbane", "perth", "mobile"},
}
# Several zones: the Contact Hours' own (Melbourne) instead.
OR_HOURS = {
    at(9, 30): {"melbourne", "perth", "mobile"},
    at(17, 30): {"brisbane"},
    at(12): {"melbourne", "brisbane", "perth", "mobile"},
}
OWN = {at(9, 30): set(NUMBERS), at(17, 30): set(), at(12): set(NUMBERS)}


@pytest.fixture
def setup(db: Any) -> dict[str, Any]:
    hours = ContactHours.objects.create(name="Business", timezone="Australia/Melbourne")
    for day in range(7):
        ContactHoursWindow.objects.create(
            contact_hours=hours, weekday=day, start_minute=9 * 60, end_minute=17 * 60
        )
    template = TemplateFactory(name="Zones", contact_hours=hours)
    campaign = Campaign.objects.create(template=template, name="Zones", active=True)
    allocation = campaign.allocations.create(name="A", started=True)
    leads = {}
    for name, number in NUMBERS.items():
        lead = Lead.objects.create(campaign=campaign, allocation=allocation, fields={})
        LeadPhone.objects.create(
            lead=lead, campaign=campaign, field_name="FirstPhone", number=number
        )
        leads[name] = lead.pk
    return {"hours": hours, "campaign": campaign, "leads": leads}


def callable_at(setup: dict[str, Any], instant: dt.datetime) -> tuple[set[str], set[str]]:
    """(eligible by the explanation, chosen by the cache rebuild) at ``instant``."""
    names = {lead_id: name for name, lead_id in setup["leads"].items()}
    eligible = {name for name, lead_id in setup["leads"].items()
                if lead_eligibility(lead_id, instant).eligible}  # fmt: skip
    chosen, _ = _next_leads(setup["campaign"], instant)
    return eligible, {names[lead_id] for lead_id in chosen}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(ZoneMode.HOURS, OWN), (ZoneMode.NUMBER_STRICT, STRICT),
     (ZoneMode.NUMBER_OR_HOURS, OR_HOURS)],
)  # fmt: skip
def test_eligibility_and_the_rebuild_read_the_windows_in_the_numbers_zone(
    setup: dict[str, Any], mode: str, expected: dict[dt.datetime, set[str]]
) -> None:
    ContactHours.objects.filter(pk=setup["hours"].pk).update(zone_mode=mode)
    for instant, names in expected.items():
        eligible, cached = callable_at(setup, instant)
        assert eligible == names, (mode, instant)
        assert cached == names, (mode, instant)


def test_the_explanation_names_the_zones_and_the_next_opening(setup: dict[str, Any]) -> None:
    ContactHours.objects.filter(pk=setup["hours"].pk).update(zone_mode=ZoneMode.NUMBER_STRICT)
    perth = lead_eligibility(setup["leads"]["perth"], at(9, 30))
    assert [r.detail for r in perth.reasons] == [
        "Mon 06:30 the number's zone Australia/Perth is outside Business"
    ]
    # Both Perth and Adelaide open at Perth's 09:00 (Melbourne's 12:00).
    assert perth.next_eligible_at == at(12)
    brisbane = lead_eligibility(setup["leads"]["brisbane"], at(17, 30))
    assert brisbane.eligible
    melbourne = lead_eligibility(setup["leads"]["melbourne"], at(17, 30))
    assert [r.detail for r in melbourne.reasons] == [
        "Mon 17:30 the number's zone Australia/Sydney is outside Business"
    ]


def test_the_rebuild_notes_the_zones_for_the_hand_out(setup: dict[str, Any]) -> None:
    ContactHours.objects.filter(pk=setup["hours"].pk).update(zone_mode=ZoneMode.NUMBER_STRICT)
    chosen, read_in = _next_leads(setup["campaign"], at(12))
    assert read_in[setup["leads"]["perth"]] == (
        "+61893812222",
        ("Australia/Adelaide", "Australia/Perth"),
    )
    assert setup["leads"]["mobile"] not in chosen


def test_a_lead_whose_number_changed_since_the_rebuild_is_skipped(
    setup: dict[str, Any],
) -> None:
    """The hand-out checks the zones of the number the rebuild chose; another number by then
    (its zones unchecked) waits for the next rebuild."""
    hours = setup["hours"]
    hours.windows.all().delete()
    for day in range(7):  # always open: any clock will do
        ContactHoursWindow.objects.create(contact_hours=hours, weekday=day, start_minute=0,
                                          end_minute=1440)  # fmt: skip
    ContactHours.objects.filter(pk=hours.pk).update(zone_mode=ZoneMode.NUMBER_STRICT)
    Lead.objects.exclude(pk=setup["leads"]["brisbane"]).delete()
    dialer_cache_refresh(setup["campaign"].pk)
    LeadPhone.objects.filter(lead_id=setup["leads"]["brisbane"]).update(number="+61893812222")
    assert dialer_lead_next(setup["campaign"].pk, "agent") is None
    dialer_cache_refresh(setup["campaign"].pk)  # the next rebuild reads the new number's zones
    handed = dialer_lead_next(setup["campaign"].pk, "agent")
    assert handed is not None and handed.phone == "0893812222"


@pytest.mark.parametrize("zones", [["Australia/Brisbane"], ["Australia/Perth"],
                                   ["Australia/Adelaide", "Australia/Perth"],
                                   ["Australia/Sydney", "Indian/Christmas"]])  # fmt: skip
def test_the_hand_outs_sql_agrees_with_python(setup: dict[str, Any], zones: list[str]) -> None:
    schedule = schedule_load([setup["hours"].pk])[setup["hours"].pk]
    for minutes in range(0, 24 * 60, 30):
        instant = at(0) + dt.timedelta(minutes=minutes)
        with connection.cursor() as cursor:
            cursor.execute("SELECT contact_hours_open_in(%s, %s, %s)",
                           [setup["hours"].pk, zones, instant])  # fmt: skip
            in_sql = cursor.fetchone()[0]
        in_python = schedule.open_in(instant, tuple(zoneinfo.ZoneInfo(z) for z in zones))
        assert in_sql == in_python, (zones, instant)


def test_a_real_hand_out_gives_only_the_number_whose_zone_is_open(setup: dict[str, Any]) -> None:
    """On the live clock: a one-hour window around Brisbane's current hour is open in
    Brisbane and closed in Melbourne (an hour ahead in December) and elsewhere."""
    brisbane = timezone.now().astimezone(zoneinfo.ZoneInfo("Australia/Brisbane"))
    hours = setup["hours"]
    hours.windows.all().delete()
    ContactHoursWindow.objects.create(contact_hours=hours, weekday=brisbane.weekday(),
                                      start_minute=brisbane.hour * 60,
                                      end_minute=brisbane.hour * 60 + 60)  # fmt: skip
    ContactHours.objects.filter(pk=hours.pk).update(zone_mode=ZoneMode.NUMBER_STRICT)
    dialer_cache_refresh(setup["campaign"].pk)
    handed = dialer_lead_next(setup["campaign"].pk, "agent")
    assert handed is not None and handed.lead_id == setup["leads"]["brisbane"]
    assert handed.phone == "0733331111"
    assert dialer_lead_next(setup["campaign"].pk, "agent") is None
    # Back to the Contact Hours' own zone: released, the Brisbane line is not offered again.
    Lead.objects.filter(pk=handed.lead_id).update(checked_out_until=None, checked_out_by="")
    ContactHours.objects.filter(pk=hours.pk).update(zone_mode=ZoneMode.HOURS)
    dialer_cache_refresh(setup["campaign"].pk)
    assert dialer_lead_next(setup["campaign"].pk, "agent") is None
