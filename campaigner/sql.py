"""The campaigner app's hand-written SQL: prepared statements where the code asks for them, the
rows the hot-path statements return as frozen dataclasses (psycopg's ``kwargs_row``), and the
statements themselves.

Prepared statements, where the code asks for them.

A prepared statement is parsed and planned once per connection; each later run reuses the plan.
On the single-lead hot path (key check, the call's allocation, the rate limiter's slot, the
update's read and write) that saves most of the planning time of the statements, a large part
of an ``updateLeadFast``'s database time (``make bench`` measures the updates).

Statements are not prepared automatically: after a few runs PostgreSQL may switch a prepared
statement to a generic plan, one that ignores the parameter values. That is right for lookups
by key, and wrong where the best plan depends on them: preparing every repeated statement made
the dialer's removal of old cache generations (``generation < %s``) several times slower.
So only key lookups and writes by key go through ``execute_prepared``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper
from psycopg.rows import kwargs_row
from psycopg.types.json import JsonbLoader, JsonLoader

from campaigner.models import (
    Allocation,
    ApiKey,
    Campaign,
    CampaignTemplate,
    ContactHours,
    KeyFailure,
    TemplateField,
)

Row = TypeVar("Row")


def execute_prepared(
    cursor: CursorWrapper, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> None:
    """``cursor.execute(sql, params)`` as a prepared statement on the cursor's connection.
    Errors come out as Django's database errors, as from ``cursor.execute``; the statement is
    not in Django's debug query log. Without prepared statements
    (``DJANGO_DB_PREPARED_STATEMENTS=0``) this is a plain ``execute``."""
    with cursor.db.wrap_database_errors:
        cursor.cursor.execute(sql, params, prepare=True)


@contextmanager
def rows_of(row_type: Callable[..., Row]) -> Iterator[psycopg.Cursor[Row]]:
    """A cursor on the default connection whose rows are ``row_type(**columns)`` (a frozen
    dataclass, or a constructor taking the columns by name), JSON decoded, errors as Django's.
    Inside the caller's transaction, if any."""
    connection.ensure_connection()
    with connection.wrap_database_errors:
        with connection.connection.cursor(row_factory=kwargs_row(row_type)) as cursor:
            # Django reads json as text for its JSONField; these rows want the values.
            cursor.adapters.register_loader("json", JsonLoader)
            cursor.adapters.register_loader("jsonb", JsonbLoader)
            yield cursor


def fetch_one(
    row_type: Callable[..., Row], sql: str, params: Sequence[Any], *, prepare: bool = True
) -> Row | None:
    """The first row of ``sql`` as a ``row_type``, or ``None``; prepared unless told not to."""
    with rows_of(row_type) as cursor:
        cursor.execute(sql, params, prepare=prepare)
        return cursor.fetchone()


# --- API keys and the call's allocation (campaigner/api/auth.py) ------------------------------


@dataclass(frozen=True, slots=True)
class KeyRow:
    """An unrevoked CampaignAPI key: ``team_id`` is ``None`` for a global key."""

    key_id: int
    key_name: str
    team_id: int | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class HoursRow:
    id: int
    name: str
    timezone: str


@dataclass(frozen=True, slots=True)
class CallRow:
    """``KEY_AND_ALLOCATION``: the key, and the call's allocation with its parents when the key
    may see all three and they belong together (``allocation_name`` is ``None`` otherwise)."""

    key_id: int
    key_name: str
    team_id: int | None
    last_used_at: dt.datetime | None
    allocation_name: str | None
    disposition_set_id: int | None
    hours_id: int | None
    hours_name: str | None
    hours_timezone: str | None
    template_fields: list[tuple[str, bool]]


@dataclass(frozen=True)
class CallTarget:
    """The allocation a lead write call names, with what the call needs of its campaign and
    template: the disposition set, the default Contact Hours, and the template's fields (their
    names, and the phone fields in their order). Built by ``call_target`` (from the one query
    of ``KEY_AND_ALLOCATION``) or ``call_target_of`` (from an allocation read with the ORM).
    The Contact Hours by name are read on first use (most calls name none)."""

    template_id: int
    campaign_id: int
    allocation_id: int
    disposition_set_id: int | None
    default_hours: HoursRow | None
    field_names: frozenset[str]
    phone_fields: tuple[str, ...]
    key_name: str = ""  # the CampaignAPI key of the call (its history's "who")
    key_id: int | None = None

    @cached_property
    def hours_by_name(self) -> dict[str, HoursRow]:
        with rows_of(HoursRow) as cursor:
            return {hours.name: hours for hours in cursor.execute(CONTACT_HOURS)}


def call_target(
    *,
    template_id: int,
    campaign_id: int,
    allocation_id: int,
    disposition_set_id: int | None,
    default_hours: HoursRow | None,
    template_fields: Iterable[tuple[str, bool]],
    key_name: str = "",
    key_id: int | None = None,
) -> CallTarget:
    """The target of a call, from its ids and its template's fields as (name, is phone) in
    their order."""
    fields = list(template_fields)
    return CallTarget(
        template_id=template_id,
        campaign_id=campaign_id,
        allocation_id=allocation_id,
        disposition_set_id=disposition_set_id,
        default_hours=default_hours,
        field_names=frozenset(name for name, _ in fields),
        phone_fields=tuple(name for name, is_phone in fields if is_phone),
        key_name=key_name,
        key_id=key_id,
    )


def call_target_of(allocation: Allocation) -> CallTarget:
    """The target of an allocation read with the ORM (``campaign__template__contact_hours``
    best selected), with its template's fields read in one statement (the ORM: ~1 ms)."""
    template = allocation.campaign.template
    hours = template.contact_hours
    with connection.cursor() as cursor:
        execute_prepared(cursor, TEMPLATE_FIELDS, [template.pk])
        template_fields = cursor.fetchall()
    return call_target(
        template_id=template.pk,
        campaign_id=allocation.campaign_id,
        allocation_id=allocation.pk,
        disposition_set_id=template.disposition_set_id,
        default_hours=HoursRow(hours.pk, hours.name, hours.timezone) if hours else None,
        template_fields=template_fields,
    )


# A client address locked out for sending wrong keys (models.KeyFailure) gets no key at all.
# Parameter: the address (NULL when unknown).
_NOT_LOCKED_OUT = (
    f"NOT EXISTS (SELECT 1 FROM {KeyFailure._meta.db_table} f"  # noqa: S608
    " WHERE f.address = %s::inet AND f.locked_until > now())"
)

# Parameters: key hash, client address.
KEY = (
    f"SELECT id AS key_id, name AS key_name, team_id, last_used_at FROM {ApiKey._meta.db_table}"  # noqa: S608
    f" WHERE key_hash = %s AND NOT revoked AND {_NOT_LOCKED_OUT}"
)

# One more wrong key from an address (parameters: address, window seconds, limit, lock
# seconds): counted in the current window, or a new window started; at the limit, locked.
_IN_WINDOW = "f.window_started_at > now() - %(window)s * interval '1 s'"
_COUNT = f"(CASE WHEN {_IN_WINDOW} THEN f.failures + 1 ELSE 1 END)"
KEY_FAILED = f"""
    INSERT INTO {KeyFailure._meta.db_table} AS f (address, window_started_at, failures)
    VALUES (%(address)s, now(), 1)
    ON CONFLICT (address) DO UPDATE SET
        window_started_at = CASE WHEN {_IN_WINDOW} THEN f.window_started_at ELSE now() END,
        failures = {_COUNT},
        locked_until = CASE WHEN {_COUNT} >= %(limit)s
                                 AND (f.locked_until IS NULL OR f.locked_until < now())
                            THEN now() + %(lock)s * interval '1 s' ELSE f.locked_until END"""  # noqa: S608

KEY_USED = (
    f"UPDATE {ApiKey._meta.db_table} SET last_used_at = %s"  # noqa: S608
    " WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)"
)

# Parameters: allocation, campaign, template ids, key hash, client address.
KEY_AND_ALLOCATION = f"""
    SELECT k.id AS key_id, k.name AS key_name, k.team_id, k.last_used_at,
           a.name AS allocation_name, t.disposition_set_id,
           h.id AS hours_id, h.name AS hours_name, h.timezone AS hours_timezone,
           (SELECT coalesce(json_agg(json_build_array(f.name, f.is_phone)
                                     ORDER BY f.position, f.id), '[]')
            FROM {TemplateField._meta.db_table} f WHERE f.template_id = t.id) AS template_fields
    FROM (SELECT %s::bigint AS allocation, %s::bigint AS campaign, %s::bigint AS template) i
    JOIN {ApiKey._meta.db_table} k ON k.key_hash = %s AND NOT k.revoked AND {_NOT_LOCKED_OUT}
    LEFT JOIN ({Allocation._meta.db_table} a
               JOIN {Campaign._meta.db_table} c ON c.id = a.campaign_id
               JOIN {CampaignTemplate._meta.db_table} t ON t.id = c.template_id
               LEFT JOIN {ContactHours._meta.db_table} h ON h.id = t.contact_hours_id)
      ON a.id = i.allocation AND c.id = i.campaign AND t.id = i.template
         AND (k.team_id IS NULL OR EXISTS (
              SELECT 1 FROM {CampaignTemplate.teams.through._meta.db_table} tt
              WHERE tt.campaigntemplate_id = t.id AND tt.group_id = k.team_id))"""  # noqa: S608

TEMPLATE_FIELDS = (
    f"SELECT name, is_phone FROM {TemplateField._meta.db_table}"  # noqa: S608
    " WHERE template_id = %s ORDER BY position, id"
)

CONTACT_HOURS = f"SELECT id, name, timezone FROM {ContactHours._meta.db_table}"  # noqa: S608
