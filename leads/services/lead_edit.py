"""An operator's edit of a lead (domain.md §5.4): the values of the lead form, the three-way
merge after a concurrent change, and the one write of what the operator chose.

A lead as the form holds it is a flat dict of **values**: ``field:<name>`` for each template
field (text; ``""`` is no value) and the system values ``priority``, ``callback_at``,
``disposition_id``, ``allocation_id``, ``contact_hours_id`` and ``closed``.

- ``lead_values(lead)``: the values of a stored lead.
- ``lead_merge(base, stored, yours)``: the form was opened at ``base``; the lead is now
  ``stored``; the operator submits ``yours``. A value only one side changed takes that side's;
  one that both changed differently is a conflict the operator decides. A check-out or release
  changes no value, so on its own it is no conflict.
- ``lead_edit(lead, version, values, ...)``: writes ``values`` against ``version`` (110 if the
  lead moved on meanwhile) through ``lead_write``: phone fields normalised by the phone rules
  and their number rows rewritten (DNC marked), a new disposition with its actions, the
  allocation checked to be of the lead's campaign. Nothing is written on any refusal.
- ``lead_hold(lead_id, holder, by)`` / ``lead_release(...)``: the operator's hold. Opening a
  lead only reads it; the hold (a check-out for ``DIALER_CHECKOUT_SECONDS``, so the dialer skips
  the lead and a CampaignAPI update gets 110) is taken when the operator starts editing,
  extended while they edit, and released when they save or leave.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigner.contract import Refusal, Refused
from campaigner.models import Allocation, Disposition
from leads import sql
from leads.models import DispositionRecord, Door, Lead, LeadPhone
from leads.selectors import phone_normaliser_load
from leads.services.disposition import DispositionContext, disposition_plan
from leads.services.lead_update import phone_changes_write
from leads.services.lead_version import ChangeBy, LeadConflict, checked_out_by_other, lead_write
from leads.sql import FoundDisposition

FIELD = "field:"
SYSTEM = ("priority", "callback_at", "disposition_id", "allocation_id", "contact_hours_id",
          "closed")  # fmt: skip


def lead_values(lead: Lead, field_names: list[str]) -> dict[str, Any]:
    """The values of ``lead`` for a form of the template fields ``field_names``."""
    values: dict[str, Any] = {
        f"{FIELD}{name}": _text(lead.fields.get(name)) for name in field_names
    }
    values.update({name: getattr(lead, name) for name in SYSTEM})
    return values


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Merge:
    values: dict[str, Any]  # what to write: each value as decided so far
    conflicts: list[str]  # keys both sides changed differently: the operator picks
    theirs: list[str]  # keys only the other side changed (taken from stored)

    @property
    def needed(self) -> bool:
        """Whether the operator must see the merge screen: another write changed a value the
        form holds (taken or in conflict)."""
        return bool(self.conflicts or self.theirs)


def lead_merge(base: dict[str, Any], stored: dict[str, Any], yours: dict[str, Any]) -> Merge:
    values, conflicts, theirs = {}, [], []
    for key, now in stored.items():
        was, mine = base.get(key), yours.get(key, base.get(key))
        if now == was:
            values[key] = mine
        elif mine == was:
            values[key] = now
            theirs.append(key)
        elif mine == now:
            values[key] = mine
        else:
            values[key] = now
            conflicts.append(key)
    return Merge(values, conflicts, theirs)


def lead_edit(
    lead: Lead,
    version: int,
    values: dict[str, Any],
    *,
    holder: str,
    agent: str,
    via: Door = Door.ADMIN,
    release: bool = True,
) -> int:
    """Write the operator's ``values`` (all of them, as ``lead_values`` makes them) to the lead
    if it is still at ``version``; return the new version. ``Refused(INVALID)`` on a key, or
    ``LeadConflict`` (110), and nothing written. ``release`` ends the operator's check-out.
    ``agent``, through ``via``, is the writer the lead's history records."""
    template_fields = list(
        lead.campaign.template.fields.order_by("position").values_list("name", "is_phone")
    )
    now_values = lead_values(lead, [name for name, _ in template_fields])
    normalise = phone_normaliser_load()
    fields = dict(lead.fields)
    numbers: dict[str, str | None] = {}  # phone field -> new number (None: cleared)
    for name, is_phone in template_fields:
        key = f"{FIELD}{name}"
        value = str(values.get(key, now_values[key])).strip()
        if value == now_values[key]:
            continue
        if value:
            fields[name] = value
        else:
            fields.pop(name, None)
        if is_phone:
            number = normalise(value) if value else None
            if value and number is None:
                raise Refused(Refusal.INVALID, f"{value!r} is not a usable phone number", key)
            numbers[name] = number
    columns: dict[str, Any] = {}
    if fields != lead.fields:
        columns["fields"] = fields
    for name in SYSTEM:
        if name in values and values[name] != now_values[name]:
            columns[name] = values[name]
    if (
        "allocation_id" in columns
        and not Allocation.objects.filter(
            pk=columns["allocation_id"], campaign_id=lead.campaign_id
        ).exists()
    ):
        raise Refused(
            Refusal.INVALID, "choose an allocation of the lead's campaign", "allocation_id"
        )
    if release:
        columns.update(checked_out_by="", checked_out_until=None)
    with transaction.atomic():
        plan = None
        disposition_id = columns.get("disposition_id")
        if disposition_id is not None:
            disposition = Disposition.objects.get(pk=disposition_id)
            if disposition.disposition_set_id != lead.campaign.template.disposition_set_id:
                raise Refused(
                    Refusal.INVALID, "choose a disposition of the lead's template", "disposition_id"
                )
            context = DispositionContext(
                source=DispositionRecord.Source.ADMIN,
                agent=agent,
                callback_given="callback_at" in columns,
            )
            plan = disposition_plan(lead.pk, FoundDisposition.of(disposition), context, columns)
        new_version = lead_write(lead.pk, version, columns, by=ChangeBy(via, agent), holder=holder)
        if numbers:
            _write_numbers(lead, numbers)
        if plan is not None:
            plan.finish()
    return new_version


def _write_numbers(lead: Lead, numbers: dict[str, str | None]) -> None:
    """The lead's number rows for the changed phone fields, then the DNC mark of all of them.
    A lead left with no number at all is refused (it could never be dialed)."""
    phone_changes_write(lead.pk, lead.campaign_id, numbers)
    if not LeadPhone.objects.filter(lead=lead).exists():
        raise Refused(Refusal.INVALID, "the lead would be left with no phone number", "phones")
    with connection.cursor() as cursor:
        cursor.execute(sql.LEAD_PHONES_MARK_DNC, [lead.pk])


@dataclass(frozen=True)
class Hold:
    """The lead's check-out after a hold: ``held`` is whether ``holder`` has it (until
    ``until``); otherwise ``held_by`` has it until ``until``."""

    held: bool
    held_by: str
    until: dt.datetime | None


def lead_hold(lead_id: int, holder: str, by: ChangeBy) -> Hold:
    """Check the lead out to ``holder`` (or extend their check-out) for
    ``DIALER_CHECKOUT_SECONDS``, unless someone else has it. A write that raced this one is
    read again once; never overwrites another holder's check-out."""
    for _ in range(2):
        lead = Lead.objects.only("version", "checked_out_by", "checked_out_until").get(pk=lead_id)
        now = timezone.now()
        if checked_out_by_other(lead, holder, now):
            return Hold(False, lead.checked_out_by, lead.checked_out_until)
        until = now + dt.timedelta(seconds=settings.DIALER_CHECKOUT_SECONDS)
        values = {"checked_out_by": holder, "checked_out_until": until}
        try:
            lead_write(lead_id, lead.version, values, by=by, holder=holder, now=now)
        except LeadConflict:
            continue
        return Hold(True, holder, until)
    lead = Lead.objects.only("checked_out_by", "checked_out_until").get(pk=lead_id)
    return Hold(False, lead.checked_out_by, lead.checked_out_until)


def lead_release(lead_id: int, holder: str, by: ChangeBy) -> bool:
    """End ``holder``'s check-out of the lead, if they have it; whether it was theirs."""
    lead = Lead.objects.only("version", "checked_out_by", "checked_out_until").get(pk=lead_id)
    if lead.checked_out_by != holder or lead.checked_out_until is None:
        return False
    values = {"checked_out_by": "", "checked_out_until": None}
    try:
        lead_write(lead_id, lead.version, values, by=by, holder=holder)
    except LeadConflict:
        return False
    return True
