"""Reads of the leads app that more than one service needs (HackSoft's "selectors")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from campaigner.models import Allocation, ContactHours, Disposition, TemplateField
from campaigner.sql import execute_prepared
from leads import sql
from leads.models import Lead, LeadChange, LeadWordsMark, PhonePattern
from leads.phone import PhoneNormaliser, compile_rule


def phone_normaliser_load() -> PhoneNormaliser:
    """A normaliser with the enabled ``PhonePattern`` rules, in order (one small query), in
    the default region (``PHONE_DEFAULT_REGION``)."""
    rules = PhonePattern.objects.filter(enabled=True).values_list("pattern", "replacement")
    return PhoneNormaliser(
        tuple((compile_rule(p, r), r) for p, r in rules), settings.PHONE_DEFAULT_REGION
    )


@dataclass(frozen=True)
class ChangeLine:
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class ChangeEntry:
    """One entry of a lead's timeline, as its admin page shows it."""

    at: dt.datetime
    kind: str
    door: str
    by: str
    versions: str
    lines: list[ChangeLine]


# The system values a change records, in the timeline's words and order.
_SYSTEM_NAMES = {
    "allocation": "Allocation", "externalId": "External id", "priority": "Priority",
    "callbackDate": "Callback", "contactHours": "Contact Hours", "disposition": "Disposition",
    "closed": "Closed", "checkedOutBy": "Checked out by", "checkedOutUntil": "Checked out until",
    "checkedOutNumber": "Number handed out",
}  # fmt: skip


def lead_history(lead: Lead, zone: dt.tzinfo, limit: int = 200) -> list[ChangeEntry]:
    """The lead's newest ``limit`` changes, newest first, with ids shown as names (allocations,
    dispositions, Contact Hours) and times in ``zone``; the insert (its origin) last."""
    changes = list(LeadChange.objects.filter(lead_id=lead.pk).order_by("-id")[:limit])
    names: dict[str, dict[Any, str]] = {"allocation": {}, "disposition": {}, "contactHours": {}}
    for model, key in (
        (Allocation, "allocation"),
        (Disposition, "disposition"),
        (ContactHours, "contactHours"),
    ):
        ids = {v for c in changes for v in c.system.get(key, ()) if v is not None}
        if ids:
            names[key] = dict(model.objects.filter(pk__in=ids).values_list("pk", "name"))
    entries = []
    for change in changes:
        lines = [
            ChangeLine(name, _shown(old), _shown(new)) for name, (old, new) in change.fields.items()
        ]
        for key, label in _SYSTEM_NAMES.items():
            if key in change.system:
                old, new = change.system[key]
                lookup = names.get(key, {})
                lines.append(
                    ChangeLine(
                        label,
                        _shown(lookup.get(old, old), zone),
                        _shown(lookup.get(new, new), zone),
                    )
                )
        versions = (
            f"{change.version_before} → {change.version_after}"
            if change.version_after is not None
            else str(change.version_before or "")
        )
        entries.append(
            ChangeEntry(
                change.at,
                change.get_kind_display(),
                change.get_via_display(),
                change.by,
                versions,
                lines,
            )
        )
    origin = lead.origin if lead.origin_id is not None else None
    entries.append(
        ChangeEntry(
            lead.created_at,
            "insert",
            origin.get_via_display() if origin else "",
            str(origin) if origin else "(inserted before origins were recorded)",
            "1",
            [],
        )
    )
    return entries


def _shown(value: Any, zone: dt.tzinfo | None = None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if zone is not None and isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:  # a time (callback, check-out) as the database wrote it: in the page's zone
            return dt.datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            pass
    return str(value)


def name_fields(fields: list[TemplateField]) -> list[str]:
    """The fields that name a lead, of a template's fields in order: those ticked "in the
    lead's name" (``TemplateField.in_name``); none ticked, those of a text field whose name says
    "name" (``Name``; ``FirstName``, ``LastName``), else the first text field."""
    chosen = [f.name for f in fields if f.in_name]
    if chosen:
        return chosen
    texts = [f.name for f in fields if not f.is_phone]
    named = [name for name in texts if "name" in name.lower()]
    return named or texts[:1]


def lead_words_search(term: str, campaign_ids: list[int], most: int) -> list[int]:
    """The ids of at most ``most`` leads of ``campaign_ids`` whose words begin with every word
    of ``term`` (none when ``term`` has no word), as ``leads.services.lead_words`` says: the
    index does the work for every lead but those inserted or changed since its last refresh."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql.WORDS_QUERY, [term])
        query = cursor.fetchone()[0]
        if not query:
            return []
        mark = LeadWordsMark.objects.filter(pk=1).values_list("leads_upto", "changes_upto")
        leads, changes = mark.first() or (0, 0)
        params = {"query": query, "campaigns": campaign_ids, "leads": leads,
                  "changes": changes, "most": most}  # fmt: skip
        cursor.execute(sql.WORDS_SEARCH, params)
        return [row[0] for row in cursor.fetchall()]
