"""``lead_update``: change one existing lead, exactly as campaignapi.md §4.6 (``updateLeadFast``
and the deprecated ``updateLead``).

The lead is found in the campaign by ``njLeadId`` (its id, as ``insertLeadFast`` answers it and
every URL action sends it), else by its external id, and ends up in the call's allocation. With
both ids given, ``njLeadId`` finds the lead and the external id must be the lead's (else 101:
the two name different leads) [ours].
Fields absent from the body, and values ``<No Change>``, keep what is stored. The checks run in
the order of §4.3: shape (150), callback date (114), Contact Hours (111), priority (151), a phone
field in the body (102), external id (113, then 101), the lead left with a usable number (102;
it needs the lead, so it follows 101), disposition (106, 107), DNC (104), conflict (110). There
is no duplicate check (vendor behaviour); the DNC rule is applied to every number the lead keeps.

Conflict (110) is optimistic locking through ``lead_version.lead_write``: the lead is written
only if it is still at the version this call read (and at the version the client demanded with
``njVersion``/``If-Match``, if any) and nobody else has it checked out. Everything — the lead,
its numbers, the disposition and its local actions — is one transaction; a failed call has
written nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from campaigner.contract import CampaignApiError, Code
from campaigner.sql import CallTarget, HoursRow, rows_of
from leads import lead_input, sql
from leads.models import DispositionRecord, Door, LeadPhone
from leads.selectors import phone_normaliser_load
from leads.services.disposition import DispositionContext, disposition_find, disposition_plan
from leads.services.lead_version import (
    ChangeBy,
    LeadConflict,
    checked_out_by_other,
    lead_write,
)
from leads.sql import FoundDisposition, LeadForUpdate

DISPOSITION = "njDisposition"
VERSION = "njVersion"
LEAD_ID = "njLeadId"

UPDATE_SYSTEM_FIELDS = frozenset(
    {
        LEAD_ID,
        lead_input.EXTERNAL_ID,
        lead_input.CALLBACK_DATE,
        lead_input.PRIORITY,
        lead_input.CONTACT_HOURS,
        DISPOSITION,
        VERSION,
    }
)


@dataclass(frozen=True)
class UpdateResult:
    lead_id: int
    version: int


@dataclass(frozen=True)
class _Reading:
    """What the body asks for, read without the database. ``None`` means "keep" except where
    noted."""

    lead_id: int | None  # njLeadId (0: given, but no lead's id)
    external_id: str | None
    fields: dict[str, Any]  # template fields to replace
    callback_given: bool  # njCallBackDate present and not <No Change>
    callback: tuple[int, int, int, int, int] | None  # None with callback_given: clear it
    hours: HoursRow | None
    priority: int | None
    numbers: dict[str, str | None]  # phone field → new number (None: cleared or unusable)
    disposition: str | None
    version: int | None


def version_parse(value: object) -> int | None:
    """A client's ``njVersion``/``If-Match``: a whole number, ``None`` if blank; else 150."""
    if lead_input.is_blank(value):
        return None
    if isinstance(value, str):
        value = value.strip().removeprefix("W/").strip('"')
        if value.isascii() and value.isdigit() and len(value) < 10:
            return int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    raise CampaignApiError(Code.MALFORMED_REQUEST, f"{VERSION} must be a whole number")


def update_ignored_fields(target: CallTarget, lead: dict[str, Any]) -> list[str]:
    return [k for k in lead if k not in target.field_names and k not in UPDATE_SYSTEM_FIELDS]


def lead_update(
    target: CallTarget,
    raw: dict[str, Any],
    *,
    external_id_fallback: str | None = None,
    if_match: int | None = None,
    before_commit: Callable[[UpdateResult], None] | None = None,
) -> UpdateResult:
    """Update the lead of ``target.campaign`` whose external id the body (else
    ``external_id_fallback``) names, and move it to ``target.allocation``.

    Raises ``CampaignApiError`` with the contract code when a check fails; nothing is written then.
    ``before_commit(result)``, if given, runs last in the update's transaction, so that what
    it writes commits with the update or not at all (a call's kept answer:
    ``campaigner.idempotency``); an exception it raises rolls the update back.

    Not idempotent: every success bumps the lead's version, and a disposition in the body runs
    its actions again (a call with an ``Idempotency-Key`` runs it once).
    """
    reading = _read(target, raw, external_id_fallback)
    with transaction.atomic(durable=True):
        result = _apply(target, reading, if_match)
        if before_commit is not None:
            before_commit(result)
        return result


def _read(target: CallTarget, raw: dict[str, Any], fallback: str | None) -> _Reading:
    lead_input.check_shape(raw)
    external_id = lead_input.external_id(raw.get(lead_input.EXTERNAL_ID))
    version = version_parse(raw.get(VERSION))

    raw_callback = raw.get(lead_input.CALLBACK_DATE)
    callback_given = lead_input.CALLBACK_DATE in raw and not lead_input.is_no_change(raw_callback)
    callback = lead_input.callback_parts(raw_callback) if callback_given else None

    hours = None
    raw_hours = raw.get(lead_input.CONTACT_HOURS)
    if not lead_input.is_blank(raw_hours) and not lead_input.is_no_change(raw_hours):
        hours = target.hours_by_name.get(lead_input.json_spelling(raw_hours).strip())
        if hours is None:
            raise CampaignApiError(
                Code.INVALID_TIMEZONE_SPECIFIED, f"unknown Contact Hours {raw_hours!r}"
            )

    raw_priority = raw.get(lead_input.PRIORITY)
    priority = None if lead_input.is_no_change(raw_priority) else lead_input.priority(raw_priority)

    present = [name for name in target.phone_fields if name in raw]
    if not present:
        raise CampaignApiError(
            Code.NO_PHONE_FIELDS, "an update must carry at least one phone field"
        )
    given = {name: raw[name] for name in present if not lead_input.is_no_change(raw[name])}
    numbers: dict[str, str | None] = {}
    if given:  # the phone rules are read only when a number changes
        normalise = phone_normaliser_load()
        numbers = {
            name: None if lead_input.is_blank(value) else normalise(value)
            for name, value in given.items()
        }

    if external_id is None:
        external_id = lead_input.external_id(fallback)
    lead_id = _lead_id(raw.get(LEAD_ID))
    if external_id is None and lead_id is None:
        raise CampaignApiError(
            Code.EDIT_BUT_NO_EXTERNAL_ID_SUPPLIED,
            f"{lead_input.EXTERNAL_ID} (or {LEAD_ID}) is required",
        )

    raw_disposition = raw.get(DISPOSITION)
    disposition = None
    if DISPOSITION in raw and not lead_input.is_no_change(raw_disposition):
        disposition = lead_input.json_spelling(raw_disposition).strip()
    return _Reading(
        lead_id=lead_id,
        external_id=external_id,
        fields={
            key: value
            for key, value in raw.items()
            if key in target.field_names and not lead_input.is_no_change(value)
        },
        callback_given=callback_given,
        callback=callback,
        hours=hours,
        priority=priority,
        numbers=numbers,
        disposition=disposition,
        version=version,
    )


def _lead_id(value: object) -> int | None:
    """``njLeadId`` as a client sends it (``"111688"`` or ``111688``): ``None`` when absent or
    blank, 0 (no lead's id, so 101) when it is no whole number."""
    if lead_input.is_blank(value) or lead_input.is_no_change(value):
        return None
    text = lead_input.json_spelling(value).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


def _lead_read(
    campaign_id: int, reading: _Reading, new_numbers: list[str], disposition: tuple[int, str] | None
) -> tuple[LeadForUpdate | None, FoundDisposition | None]:
    """The lead (by ``njLeadId``, else by external id) and, if ``disposition`` (set id, name) is
    given, that disposition, in one round trip: both statements are sent before either answer
    is awaited (psycopg's pipeline mode). SQL rather than the ORM: an update is a single-lead
    hot path (leads/sql.py)."""
    found_disposition = None
    by_id = reading.lead_id is not None
    statement = sql.LEAD_FOR_UPDATE_BY_ID if by_id else sql.LEAD_FOR_UPDATE
    key = reading.lead_id if by_id else reading.external_id
    with rows_of(LeadForUpdate) as cursor, connection.connection.pipeline():
        cursor.execute(statement, [new_numbers, campaign_id, key], prepare=True)
        if disposition is not None:
            found_disposition = disposition_find(*disposition)
        lead = cursor.fetchone()
    return lead, found_disposition


def _apply(target: CallTarget, reading: _Reading, if_match: int | None) -> UpdateResult:
    new_numbers = [number for number in reading.numbers.values() if number is not None]
    set_id = target.disposition_set_id
    wanted = (set_id, reading.disposition) if reading.disposition and set_id is not None else None
    found, found_disposition = _lead_read(target.campaign_id, reading, new_numbers, wanted)
    if found is None:
        named = (
            f"the id {reading.lead_id}"
            if reading.lead_id is not None
            else f"the external id {reading.external_id!r}"
        )
        raise CampaignApiError(Code.COULDNT_FIND_THE_LEAD, f"no lead of the campaign has {named}")
    if reading.lead_id is not None and reading.external_id not in (None, found.external_id):
        raise CampaignApiError(
            Code.COULDNT_FIND_THE_LEAD,
            f"lead {found.id} has the external id {found.external_id!r}, "
            f"not {reading.external_id!r}",
        )
    lead, lead_zone, phones, dnc = found, found.zone, found.phones, set(found.dnc)
    numbers = {name: number for name, number, _ in phones}
    for name, number in reading.numbers.items():
        if number is None:
            numbers.pop(name, None)
        else:
            numbers[name] = number
    if not numbers:
        raise CampaignApiError(Code.NO_PHONE_FIELDS, "the lead would be left with no usable number")

    disposition = _disposition(lead, reading.disposition, found_disposition)

    if all(number in dnc for number in numbers.values()):
        raise CampaignApiError(Code.DNC, "every number of the lead is on the DNC list")

    now = timezone.now()
    for demanded in (reading.version, if_match):
        if demanded is not None and demanded != lead.version:
            raise LeadConflict(f"the lead is at version {lead.version}, not {demanded}")
    if checked_out_by_other(lead, None, now):
        raise LeadConflict(f"the lead is checked out by {lead.checked_out_by or 'someone'}")

    values: dict[str, Any] = {"allocation_id": target.allocation_id}
    if reading.fields:
        values["fields"] = {**lead.fields, **reading.fields}
    if reading.hours is not None:
        values["contact_hours_id"] = reading.hours.id
    if reading.callback_given:
        values["callback_at"] = None
        if reading.callback is not None:
            default = target.default_hours.timezone if target.default_hours else None
            zone = lead_input.zone(
                (reading.hours.timezone if reading.hours else None) or lead_zone or default
            )
            values["callback_at"] = lead_input.callback_at(reading.callback, zone)
    if reading.priority is not None:
        values["priority"] = reading.priority
    plan = None
    if disposition is not None:
        context = DispositionContext(
            source=DispositionRecord.Source.API, callback_given=reading.callback is not None
        )
        plan = disposition_plan(lead.id, disposition, context, values)

    by = ChangeBy(Door.CAMPAIGN_API, target.key_name)
    version = lead_write(lead.id, lead.version, values, by=by, now=now)
    _write_numbers(lead.id, target, reading.numbers, dnc, phones)
    if plan is not None:
        plan.finish()
    return UpdateResult(lead.id, version)


def _disposition(
    lead: LeadForUpdate, name: str | None, found: FoundDisposition | None
) -> FoundDisposition | None:
    """The disposition to set, ``found`` for ``name`` (106 if there is none: unknown or
    disabled), or ``None`` to keep the lead's (107 if it has none)."""
    if name is None:
        if lead.disposition_id is None:
            raise CampaignApiError(
                Code.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
                f"{DISPOSITION} is needed: the lead has no disposition yet",
            )
        return None
    if found is None:
        raise CampaignApiError(Code.INVALID_DISPOSTION, f"no enabled disposition {name!r}")
    return found


def phone_changes_write(lead_id: int, campaign_id: int, changes: dict[str, str | None]) -> None:
    """A lead's number rows for its changed phone fields (``None``: the field was cleared); the
    DNC marks are the caller's. Shared by the API update and the admin's lead form."""
    cleared = [name for name, number in changes.items() if number is None]
    if cleared:
        LeadPhone.objects.filter(lead_id=lead_id, field_name__in=cleared).delete()
    for name, number in changes.items():
        if number is not None:
            LeadPhone.objects.update_or_create(
                lead_id=lead_id,
                field_name=name,
                defaults={"number": number, "campaign_id": campaign_id},
            )


def _write_numbers(
    lead_id: int,
    target: CallTarget,
    changes: dict[str, str | None],
    dnc: set[str],
    before: list[tuple[str, str, bool]],
) -> None:
    """Apply the body's phone changes, then the DNC rule to every number the lead keeps.
    ``before``: the lead's (field, number, blocked) as read."""
    phone_changes_write(lead_id, target.campaign_id, changes)
    if not changes and all(blocked == (number in dnc) for _, number, blocked in before):
        return  # the usual "<No Change>" update: nothing to write
    blocked: Any = False
    if dnc:
        blocked = ExpressionWrapper(Q(number__in=dnc), output_field=BooleanField())
    LeadPhone.objects.filter(lead_id=lead_id).update(blocked=blocked)
