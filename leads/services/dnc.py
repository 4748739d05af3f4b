"""The do-not-call list (domain.md §1, §5.2): add or change an entry, check many numbers at
once, and load a CSV of numbers. Numbers go through the same phone rules as a lead's
(``leads.selectors.phone_normaliser_load``), so an entry blocks exactly the leads whose number
normalises to it. Every door (the management API, the admin, provisioning) writes through here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection

from campaigner.contract import Refusal, Refused
from campaigner.services import Changes, save_changed
from leads.models import DncEntry
from leads.phone import PhoneNormaliser
from leads.selectors import phone_normaliser_load
from leads.sql import DNC_FIND_ACTIVE, DNC_UPSERT

CHECK_CHUNK = 10_000  # numbers per query of a check: one round trip each, ~200 KB of keys
MAX_CHECK = 100_000  # numbers in one check call
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class DncCheck:
    phone: str  # as sent
    normalised: str | None  # None: not a usable number
    blocked: bool
    expires: dt.date | None


@dataclass
class DncUploadResult:
    added: int = 0
    updated: int = 0
    rejected: list[dict[str, object]] = field(default_factory=list)  # {"line","value","reason"}


def dnc_entry_put(
    phone: object,
    expires: dt.date | None,
    note: str,
    source: str,
    *,
    changes: Changes | None = None,
) -> tuple[DncEntry, bool]:
    """Lists the number (normalised), or changes the expiry and note of its entry if it is
    listed already: (the entry, whether it was added). Idempotent: an entry that already
    says this is not written. An entry's ``source`` is where it was first listed (the admin,
    the API, an upload, provisioning); a later put from elsewhere never changes it. An
    unusable number is ``Refused(INVALID)`` on ``phone``."""
    number = phone_normaliser_load()(phone)
    if number is None:
        raise Refused(Refusal.INVALID, f"{phone!r} is not a usable phone number", "phone")
    written = _upsert([number], [expires], [source], [note])
    changes = Changes() if changes is None else changes
    if not written:
        return DncEntry.objects.get(number=number), False
    changes.count("created" if written[0][1] else "updated", "DNC entries")
    return DncEntry.objects.get(pk=written[0][0]), written[0][1]


def dnc_entry_change(entry: DncEntry) -> DncEntry:
    """Saves a changed entry (number, expiry, note; its number already normalised by the
    form): its ``source`` and creation time stay the first listing's."""
    save_changed(entry, None, ignore=("source", "created_at"))
    return entry


def dnc_check(phones: Sequence[str]) -> list[DncCheck]:
    """Whether each number is blocked now, in the order given: one query per ``CHECK_CHUNK``
    distinct numbers, not one per number. A number that is not usable is not blocked."""
    normalise = phone_normaliser_load()
    numbers = [normalise(p) for p in phones]
    distinct = list(dict.fromkeys(n for n in numbers if n is not None))
    active: dict[str, dt.date | None] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(distinct), CHECK_CHUNK):
            cursor.execute(DNC_FIND_ACTIVE, [distinct[start : start + CHECK_CHUNK]])
            active.update(cursor.fetchall())
    return [
        DncCheck(phone, number, number in active, active.get(number) if number else None)
        for phone, number in zip(phones, numbers, strict=True)
    ]


def dnc_upload(data: bytes, source: str) -> DncUploadResult:
    """Loads a CSV file (UTF-8, a BOM allowed, a header row with a ``phone`` column and
    optionally ``expires`` (YYYY-MM-DD) and ``note``): every good line is added, or changes
    the entry of its number, in one statement; each bad line is listed in ``rejected`` with
    its line number and why. A number listed twice takes the last line's values. A file that
    is not UTF-8 text, not CSV, has no ``phone`` column or is over ``DNC_UPLOAD_MAX_MB`` is
    ``Refused(INVALID)`` on ``file`` and writes nothing (a caller need read at most one byte
    over the limit)."""
    limit = settings.DNC_UPLOAD_MAX_BYTES
    if len(data) > limit:
        raise Refused(Refusal.INVALID, f"the file is larger than {limit:,} bytes", "file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(
            Refusal.INVALID,
            f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            "file",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if "phone" not in header:
            raise Refused(
                Refusal.INVALID, "the file has no 'phone' column in its first line", "file"
            )
        result, wanted = _upload_lines(reader, header, phone_normaliser_load())
    except csv.Error as exc:
        raise Refused(Refusal.INVALID, f"the file is not CSV: {exc}", "file") from None
    if wanted:
        numbers = list(wanted)
        rows = _upsert(
            numbers,
            [wanted[n][0] for n in numbers],
            [source] * len(numbers),
            [wanted[n][1] for n in numbers],
        )
        result.added = sum(1 for _, added in rows if added)
        result.updated = len(rows) - result.added
    return result


def _upload_lines(
    reader: Any, header: list[str], normalise: PhoneNormaliser
) -> tuple[DncUploadResult, dict[str, tuple[dt.date | None, str]]]:
    result = DncUploadResult()
    wanted: dict[str, tuple[dt.date | None, str]] = {}
    phone_at, expires_at = header.index("phone"), _index(header, "expires")
    note_at = _index(header, "note")
    for read in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in read):
            continue  # blank lines are no entries
        count = len(read)
        cells = read + [""] * (len(header) - count)  # a short line is read padded, then rejected
        value = cells[phone_at]
        reason = None
        if count != len(header):
            reason = f"{count} cells where the header has {len(header)}"
        number = normalise(value)
        expires_text = cells[expires_at].strip() if expires_at is not None else ""
        note = cells[note_at] if note_at is not None else ""
        expires = None
        if reason is None and number is None:
            reason = "not a usable phone number"
        if reason is None and expires_text:
            expires = _date(expires_text)
            if expires is None:
                reason = f"'expires' must be a date YYYY-MM-DD, not {expires_text!r}"
        if reason is None and "\x00" in note:
            reason = "'note' holds a NUL character"
        if reason is not None:
            result.rejected.append({"line": line, "value": value, "reason": reason})
            continue
        assert number is not None
        wanted.pop(number, None)  # the last line of a number wins, in its place
        wanted[number] = (expires, note)
    return result, wanted


def _index(header: list[str], name: str) -> int | None:
    return header.index(name) if name in header else None


def _date(text: str) -> dt.date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _upsert(
    numbers: list[str], expires: list[dt.date | None], sources: list[str], notes: list[str]
) -> list[tuple[int, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(DNC_UPSERT, [numbers, expires, sources, notes])
        return [(row[0], row[1]) for row in cursor.fetchall()]
