"""Configuration writes that need nothing outside ``campaigner`` (the rest, which must know
about leads, are in ``leads.services.configuration``).

Each takes the ``actor`` (the user writing; ``None`` for provisioning, a superuser's file) and
refuses what that user may not reach (``campaigner.selectors``): ``Refused(INVALID)`` on the key
of a value they cannot name, ``Refused(FORBIDDEN)`` for a row they see but may not change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group

from campaigner.contract import Refusal, Refused
from campaigner.models import (
    ApiKey,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
    new_secret,
)
from campaigner.selectors import sees_everything, shared_writable_by, teams_of


def api_key_create(
    name: str, team: Group | None = None, user: Any = None, *, actor: Any
) -> tuple[ApiKey, str]:
    """A new CampaignAPI key: the row (only the key's hash and first characters are stored)
    and the plain key, which the caller shows once and which can never be read again.
    A name already taken raises ``IntegrityError``. See ``api_key_save`` for who may."""
    plain = new_secret()
    key = ApiKey(name=name, team=team, user=user)
    key.set_key(plain)
    return api_key_save(key, actor=actor), plain


def api_key_save(key: ApiKey, *, actor: Any) -> ApiKey:
    """Saves a key (new, renamed, moved, revoked). A user who is not a superuser gives a key
    one of their own teams (a key of no team sees every team: a superuser's) and, if it names
    a user, a member of that team (or themselves): else ``Refused(INVALID)`` on ``team`` or
    ``user``. Only keys of their teams reach them to be changed (``api_keys_visible``)."""
    if key.team_id is not None and not teams_of(actor).filter(pk=key.team_id).exists():
        raise Refused(Refusal.INVALID, "name one of your own teams (a role is not a team)", "team")
    if not sees_everything(actor):
        if key.team_id is None:
            raise Refused(Refusal.INVALID, "name one of your own teams", "team")
        named: Any = key.user
        if (
            named is not None
            and named.pk != actor.pk
            and not named.groups.filter(pk=key.team_id).exists()
        ):
            raise Refused(Refusal.INVALID, "name a member of the key's team, or nobody", "user")
    key.save()
    return key


def shared_write_check(row: Any, actor: Any) -> None:
    """``Refused(FORBIDDEN)`` when ``row`` (Contact Hours, a disposition set) is used by a
    template of a team ``actor`` is not in."""
    if not shared_writable_by(row, actor):
        raise Refused(
            Refusal.FORBIDDEN,
            f"{row._meta.verbose_name} {row.name!r} is also used by templates of teams you are "
            "not in; only someone in all of them (or a superuser) may change it",
        )


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int  # 1440 = midnight at the end of the day


def contact_hours_save(
    hours: ContactHours,
    windows: Iterable[Window] | None = None,
    closed_dates: Iterable[dt.date] | None = None,
    *,
    actor: Any,
) -> ContactHours:
    """Saves ``hours`` (new or changed) and, where given, makes its windows and closed dates
    exactly these (duplicates dropped). ``Refused(FORBIDDEN)`` if another team's template
    uses them (``shared_write_check``)."""
    shared_write_check(hours, actor)
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
