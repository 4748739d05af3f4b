"""Contact Hours windows in the admin are days with HH:MM times (#16), written by the same
service as the API's: ``900`` is refused rather than read as 15:00, 24:00 is the end of the
day, the start must be before the end, and the admin and the API store the same windows."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from campaigner.models import ContactHours, ContactHoursWindow
from tests.leads.api_v1.conftest import Api

pytestmark = pytest.mark.django_db

URL = "/admin/campaigner/contacthours/add/"


@pytest.fixture
def admin(db: Any) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def form(name: str, *windows: tuple[int, str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name, "timezone": "Australia/Perth", "zone_mode": "hours",
        "windows-TOTAL_FORMS": len(windows), "windows-INITIAL_FORMS": 0,
        "closed_dates-TOTAL_FORMS": 0, "closed_dates-INITIAL_FORMS": 0,
    }  # fmt: skip
    for i, (day, start, end) in enumerate(windows):
        data.update({f"windows-{i}-weekday": day, f"windows-{i}-start": start,
                     f"windows-{i}-end": end})  # fmt: skip
    return data


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("900", "17:00", "Start must be HH:MM, not &#x27;900&#x27;"),
        ("09:00", "24:01", "End must be between 00:00 and 24:00"),
        ("24:00", "24:00", "A window starts before 24:00"),
        ("17:00", "09:00", "The start must be before the end"),
        ("9:00", "17:00", "Start must be HH:MM"),
    ],
)
def test_a_time_a_person_could_mistype_is_refused(
    admin: Client, start: str, end: str, message: str
) -> None:
    answer = admin.post(URL, form("Perth", (0, start, end)))
    assert answer.status_code == 200 and message in answer.content.decode()
    assert not ContactHours.objects.exists()


def test_the_admin_and_the_api_store_the_same_windows(admin: Client, admin_api: Api) -> None:
    answer = admin.post(URL, form("Perth", (0, "09:00", "24:00"), (4, "08:30", "12:00")))
    assert answer.status_code == 302, answer.content
    by_admin = ContactHours.objects.get(name="Perth")
    windows = [{"days": ["mon"], "start": "09:00", "end": "24:00"},
               {"days": ["fri"], "start": "08:30", "end": "12:00"}]  # fmt: skip
    created = admin_api.post(
        "contact-hours/", {"name": "Perth 2", "timezone": "Australia/Perth", "windows": windows}
    )
    assert created.status_code == 201, created.content

    def stored(hours: ContactHours) -> list[tuple[int, int, int]]:
        rows = ContactHoursWindow.objects.filter(contact_hours=hours)
        return list(rows.values_list("weekday", "start_minute", "end_minute"))

    assert stored(by_admin) == stored(ContactHours.objects.get(name="Perth 2"))
    assert stored(by_admin) == [(0, 540, 1440), (4, 510, 720)]
    page = admin.get(f"/admin/campaigner/contacthours/{by_admin.pk}/change/").content.decode()
    assert 'value="09:00"' in page and 'value="24:00"' in page


def test_the_zone_is_chosen_from_the_iana_zones(admin: Client) -> None:
    page = admin.get(URL).content.decode()
    assert '<select name="timezone"' in page and '<option value="Australia/Perth">' in page
    answer = admin.post(URL, {**form("Typo", (0, "09:00", "17:00")), "timezone": "Australia/Pert"})
    assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()
    assert not ContactHours.objects.exists()


def test_one_row_of_the_admin_sets_the_same_hours_on_several_days(admin: Client) -> None:
    """A setup trap: the admin took one row per weekday, where the API takes days: [...]."""
    data = form("Weekdays", (0, "09:00", "17:00"), (5, "10:00", "12:00"))
    data["windows-0-also_on"] = ["1", "2", "3", "4", "0"]  # Monday again is no second window
    answer = admin.post(URL, data)
    assert answer.status_code == 302, answer.content
    rows = ContactHoursWindow.objects.filter(contact_hours__name="Weekdays")
    assert list(rows.order_by("weekday").values_list("weekday", "start_minute", "end_minute")) == [
        (0, 540, 1020), (1, 540, 1020), (2, 540, 1020), (3, 540, 1020), (4, 540, 1020),
        (5, 600, 720),
    ]  # fmt: skip
