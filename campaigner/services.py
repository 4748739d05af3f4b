"""Configuration writes that need nothing outside ``campaigner`` (the rest, which must know
about leads, are in ``leads.services.configuration``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group

from campaigner.models import (
    ApiKey,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
    new_secret,
)


def api_key_create(name: str, team: Group | None = None, user: Any = None) -> tuple[ApiKey, str]:
    """A new CampaignAPI key: the row (only the key's hash and first characters are stored)
    and the plain key, which the caller shows once and which can never be read again.
    A name already taken raises ``IntegrityError``."""
    plain = new_secret()
    key = ApiKey(name=name, team=team, user=user)
    key.set_key(plain)
    key.save()
    return key, plain


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int  # 1440 = midnight at the end of the day


def contact_hours_save(
    hours: ContactHours,
    windows: Iterable[Window] | None = None,
    closed_dates: Iterable[dt.date] | None = None,
) -> ContactHours:
    """Saves ``hours`` (new or changed) and, where given, makes its windows and closed dates
    exactly these (duplicates dropped)."""
    hours.save()
    if windows is not None:
        hours.windows.all().delete()
        ContactHoursWindow.objects.bulk_create(
            ContactHoursWindow(
                contact_hours=hours,
                weekday=w.weekday,
                start_minute=w.start_minute,
                end_minute=w.end_minute,
            )
            for w in sorted(set(windows), key=lambda w: (w.weekday, w.start_minute, w.end_minute))
        )
    if closed_dates is not None:
        hours.closed_dates.all().delete()
        ContactHoursClosedDate.objects.bulk_create(
            ContactHoursClosedDate(contact_hours=hours, date=d) for d in sorted(set(closed_dates))
        )
    return hours
