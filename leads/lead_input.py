"""Reading one lead object as a client sent it (campaignapi.md §4.1-§4.3).

Pure functions, no database: the insert path runs them on every lead of a batch before it
takes any lock, and the update path reuses them. Each failing check raises ``CampaignApiError``
with the contract code; the caller decides the order of checks (§4.3).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import zoneinfo
from typing import Any

from django.conf import settings

from campaigner.contract import CampaignApiError, Code

NO_CHANGE = "<no change>"

EXTERNAL_ID = "njExternalLeadId"
CALLBACK_DATE = "njCallBackDate"
PRIORITY = "njPriority"
CONTACT_HOURS = "njContactHours"

EXTERNAL_ID_MAX_LENGTH = 255
# ASCII digits only: Python's \d and int() would take any script's digits as well.
_CALLBACK_FORMAT = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2})")
_WHOLE_NUMBER = re.compile(r"\s*[0-9]{1,3}\s*")
# A JSON "\\ud800" escape without its pair parses to text that has no UTF-8 form.
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_no_change(value: object) -> bool:
    """``<No Change>`` in any case, surrounding spaces ignored."""
    return isinstance(value, str) and "<" in value and value.strip().lower() == NO_CHANGE


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_shape(lead: dict[str, Any]) -> None:
    """Values must be JSON scalars or null; text must not contain NUL or unpaired surrogates
    (PostgreSQL cannot store them, and one such value must not sink a whole batch)."""
    read_fields(lead, frozenset())


def read_fields(
    lead: dict[str, Any], field_names: frozenset[str]
) -> tuple[dict[str, Any], str | None]:
    """One pass over a lead (the insert path runs it on every lead of a batch): its shape as
    ``check_shape`` says, the values of ``field_names``, and the first key whose value is
    ``<No Change>`` (``None`` if there is none)."""
    fields = {}
    no_change = None
    for key, value in lead.items():
        # Plain ASCII without NUL, the usual case, is decided without a call.
        if (not key.isascii() or "\x00" in key) and not _storable(key):
            raise CampaignApiError(Code.MALFORMED_REQUEST, "a field name is not storable text")
        if isinstance(value, str):
            if (not value.isascii() or "\x00" in value) and not _storable(value):
                raise CampaignApiError(
                    Code.MALFORMED_REQUEST,
                    f"{key!r} contains a NUL character or an unpaired surrogate",
                )
            if no_change is None and "<" in value and is_no_change(value):  # "<": no call
                no_change = key
        elif isinstance(value, dict | list):
            raise CampaignApiError(
                Code.MALFORMED_REQUEST, f"{key!r} must be a string, number or null"
            )
        elif value.__class__ is float and not math.isfinite(value):
            # 1e400 parses to infinity, which JSON (and PostgreSQL's jsonb) cannot hold: it
            # would be stored as null or fail the write. The client's value is refused instead.
            raise CampaignApiError(Code.MALFORMED_REQUEST, f"{key!r} is a number out of range")
        if key in field_names:
            fields[key] = value
    return fields, no_change


def _storable(text: str) -> bool:
    return "\x00" not in text and (text.isascii() or not _SURROGATE.search(text))


def callback_parts(value: object) -> tuple[int, int, int, int, int] | None:
    """Validate ``yyyy/MM/dd HH:mm`` (24-hour clock, a real calendar date); return its parts.

    ``None`` for blank (no callback). The instant depends on the lead's Contact Hours, which are
    checked after this (§4.3), so the zone is applied by ``callback_at``.
    """
    if is_blank(value):
        return None
    match = _CALLBACK_FORMAT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CampaignApiError(
            Code.INVALID_CALLBACK_DATE_FORMAT, f"{CALLBACK_DATE} must be yyyy/MM/dd HH:mm"
        )
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        dt.datetime(year, month, day, hour, minute)  # noqa: DTZ001 (calendar check only)
    except ValueError:
        raise CampaignApiError(
            Code.INVALID_CALLBACK_DATE_FORMAT, f"{value!r} is not a real date and time"
        ) from None
    return year, month, day, hour, minute


def zone(timezone_name: str | None) -> zoneinfo.ZoneInfo:
    """The zone a lead's dates are in: its Contact Hours' (its own, else its template's),
    ``timezone_name``; the server's ``TIME_ZONE`` when it has none."""
    return zoneinfo.ZoneInfo(timezone_name or settings.TIME_ZONE)


# Callback instants are kept two days inside what Python's datetime can hold, so that any later
# reading of a stored one (in any zone, plus a day of Contact Hours look-ahead) cannot overflow.
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC) + dt.timedelta(days=2)
_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC) - dt.timedelta(days=2)
_OUT_OF_RANGE = dt.datetime.min.replace(tzinfo=dt.UTC)  # stands for an instant that overflowed


def callback_at(parts: tuple[int, int, int, int, int], zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant of a local wall-clock time in ``zone``.

    A time skipped by a daylight-saving change (e.g. 02:30 on the first Sunday of October in
    Melbourne) does not exist and is refused (114); a repeated one takes its first occurrence.
    An instant within two days of the ends of the calendar (years 1 and 9999) is refused too
    (114): every zone must be able to show it.
    """
    local = dt.datetime(*parts, tzinfo=zone)
    try:
        instant = local.astimezone(dt.UTC)
        round_trip = instant.astimezone(zone)
    except OverflowError:
        instant = round_trip = _OUT_OF_RANGE
    if not _EARLIEST <= instant <= _LATEST:
        raise CampaignApiError(
            Code.INVALID_CALLBACK_DATE_FORMAT, f"{local:%Y/%m/%d %H:%M} is out of range"
        )
    if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise CampaignApiError(
            Code.INVALID_CALLBACK_DATE_FORMAT,
            f"{local:%Y/%m/%d %H:%M} does not exist in {zone.key} (daylight-saving change)",
        )
    return local


def priority(value: object) -> int | None:
    """``njPriority``: a whole number 0-100 as JSON number or numeric string; ``None`` for null
    (as if absent). Anything else, the empty string included, is 151."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        number = int(value)
    if number is None or not 0 <= number <= 100:
        raise CampaignApiError(Code.INVALID_PRIORITY, f"{PRIORITY} must be a whole number 0-100")
    return number


def external_id(value: object) -> str | None:
    """``njExternalLeadId`` as text (a JSON number 9856 is the id "9856"); ``None`` if blank."""
    if is_blank(value):
        return None
    text = value.strip() if isinstance(value, str) else json_spelling(value)
    if len(text) > EXTERNAL_ID_MAX_LENGTH:
        raise CampaignApiError(
            Code.MALFORMED_REQUEST, f"{EXTERNAL_ID} is longer than {EXTERNAL_ID_MAX_LENGTH}"
        )
    return text


def json_spelling(value: object) -> str:
    """A scalar as it is written in JSON (strings as-is, null as empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
