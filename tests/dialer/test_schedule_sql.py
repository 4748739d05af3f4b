"""The database's test of a Contact Hours (``contact_hours_open``, used by the rebuild and the
hand-out) agrees with ``dialer.schedule`` (used to explain eligibility), daylight-saving changes
and closed dates included."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigner.models import ContactHours, ContactHoursClosedDate, ContactHoursWindow
from dialer.schedule import schedule_load

pytestmark = pytest.mark.django_db

ZONES = ["Australia/Melbourne", "Europe/London", "America/New_York", "Asia/Kolkata"]


def sql_open(hours_id: int | None, at: dt.datetime) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT contact_hours_open(%s, %s)", [hours_id, at])
        return bool(cursor.fetchone()[0])


def test_no_contact_hours_means_no_restriction() -> None:
    assert sql_open(None, dt.datetime.now(dt.UTC))


# Instants around the 2026 changes of the zones above, and ordinary ones.
moments = st.one_of(
    st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
    st.sampled_from(
        [dt.datetime(2026, 4, 4, 15, 30), dt.datetime(2026, 4, 4, 16, 30),
         dt.datetime(2026, 10, 3, 15, 59), dt.datetime(2026, 10, 3, 16, 0),
         dt.datetime(2026, 3, 29, 0, 59), dt.datetime(2026, 3, 29, 1, 0),
         dt.datetime(2026, 11, 1, 5, 30), dt.datetime(2026, 11, 1, 6, 30)]
    ),
).map(lambda naive: naive.replace(tzinfo=dt.UTC))  # fmt: skip
windows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 1439), st.integers(1, 1440)).filter(
        lambda w: w[1] < w[2]
    ),
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(zone=st.sampled_from(ZONES), spec=windows, at=moments, closed_today=st.booleans())
def test_sql_and_python_agree(
    zone: str, spec: list[tuple[int, int, int]], at: dt.datetime, closed_today: bool
) -> None:
    ContactHours.objects.all().delete()
    hours = ContactHours.objects.create(name="Generated", timezone=zone)
    ContactHoursWindow.objects.bulk_create(
        ContactHoursWindow(contact_hours=hours, weekday=d, start_minute=s, end_minute=e)
        for d, s, e in spec
    )
    schedule = schedule_load([hours.pk])[hours.pk]
    if closed_today:
        local_date = at.astimezone(schedule.zone).date()
        ContactHoursClosedDate.objects.create(contact_hours=hours, date=local_date)
        schedule = schedule_load([hours.pk])[hours.pk]
    assert sql_open(hours.pk, at) is schedule.is_open(at)
