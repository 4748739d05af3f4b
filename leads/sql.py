"""The leads app's hand-written SQL, in one place: the statements of the hot paths (the insert's
probes and COPY, the update's read, the versioned write, the disposition's lookup and record),
the predicates other SQL reuses (``dnc_active``), and the frozen rows the reads return.

SQL rather than the ORM on these paths: an update is a single-lead hot path where each ORM
query costs about ten times the statement itself, and a 100,000-lead insert must not issue a
query per lead. Everywhere else the ORM is used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from campaigner.models import ContactHours, Disposition, DispositionAction
from leads.models import (
    DispositionRecord,
    DncEntry,
    Lead,
    LeadChange,
    LeadImport,
    LeadImportFile,
    LeadImportReport,
    LeadOrigin,
    LeadPhone,
    LeadWords,
)


def dialable_numbers(lead_id: str | None) -> str:
    """``FROM … WHERE …`` of the numbers of the lead ``lead_id`` (``None``: of every lead) the
    dialer may ring: not blocked, not on the DNC list (aliased ``p``)."""
    of_lead = f"p.lead_id = {lead_id} AND " if lead_id is not None else ""
    return (
        f"FROM {LeadPhone._meta.db_table} p WHERE {of_lead}NOT p.blocked"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {DncEntry._meta.db_table} d"
        f" WHERE d.number = p.number AND {dnc_active('d')})"
    )


def has_dialable_number(lead_id: str) -> str:
    return f"EXISTS (SELECT 1 {dialable_numbers(lead_id)})"


# The ids of the Contact Hours open at %s (``contact_hours_open``, a function the dialer's
# migrations define: each Contact Hours read in its own zone).
OPEN_CONTACT_HOURS = (
    f"SELECT id FROM {ContactHours._meta.db_table} WHERE contact_hours_open(id, %s)"  # noqa: S608
)

# Where a lead stands for the dialer, one state each (the first that applies), as the
# dashboard counts them and the lead list filters them: the reasons of the dialer's
# eligibility (dialer.services.eligibility_of) in its order, the Contact Hours read in their
# own zone (a Contact Hours read in the number's zone may be open for some of its leads).
DIAL_STATES = {
    "campaign_inactive": "campaign inactive",
    "closed": "closed",
    "exhausted": "exhausted",
    "callback_future": "callback later",
    "checked_out": "checked out",
    "allocation_stopped": "allocation stopped",
    "no_dialable_number": "DNC or blocked",
    "outside_contact_hours": "outside Contact Hours",
    "dialable": "dialable now",
}


def dial_state(
    lead: str,
    *,
    active: str,
    started: str,
    default_hours: str,
    now: str = "%(now)s",
    open_hours: str = "%(open)s",
    dialable: str | None = None,
    final: str | None = None,
) -> str:
    """The state of the lead ``lead`` (an alias) at ``now``: ``active`` is its campaign's flag,
    ``started`` its allocation's, ``default_hours`` its template's Contact Hours,
    ``open_hours`` the array of the ids of the Contact Hours open at ``now``, ``dialable``
    whether it has a number the dialer may ring (SQL expressions; by default a look-up of the
    lead's numbers, ``has_dialable_number``: a caller counting every lead joins them instead,
    ``DIALABLE_LEADS``), ``final`` whether its disposition is final (by default looked up).

    A closed lead is ``closed`` when a final disposition closed it, ``exhausted`` otherwise: a
    disposition action closed it (a retry limit reached, a DNC request) or a person did."""
    hours = f"COALESCE({lead}.contact_hours_id, {default_hours})"
    dialable = dialable or has_dialable_number(f"{lead}.id")
    final = final or (
        f"(SELECT d.final FROM {Disposition._meta.db_table} d"  # noqa: S608
        f" WHERE d.id = {lead}.disposition_id)"
    )
    return f"""CASE
        WHEN NOT {active} THEN 'campaign_inactive'
        WHEN {lead}.closed THEN CASE WHEN {final} THEN 'closed' ELSE 'exhausted' END
        WHEN {lead}.callback_at > {now} THEN 'callback_future'
        WHEN {lead}.checked_out_until > {now} THEN 'checked_out'
        WHEN NOT {started} THEN 'allocation_stopped'
        WHEN NOT {dialable} THEN 'no_dialable_number'
        WHEN {hours} IS NOT NULL AND NOT {hours} = ANY({open_hours}) THEN 'outside_contact_hours'
        ELSE 'dialable' END"""


def dnc_active(alias: str) -> str:
    """When the DNC entry ``alias`` counts: from its creation until its expiry date has come.
    The one spelling of the rule: the insert's probe, the update's read, the dialer's cache
    rebuild, hand-out and eligibility all use it."""
    return f"({alias}.expires_on IS NULL OR {alias}.expires_on > CURRENT_DATE)"


# The ids of the leads with a number the dialer may ring, once each: what ``has_dialable_number``
# asks of one lead, for all of them at once (alias ``p``), to join with every lead counted.
DIALABLE_LEADS = f"SELECT DISTINCT p.lead_id {dialable_numbers(None)}"


# --- insert (leads/services/lead_insert.py) ----------------------------------------------------


def probe_sql(model: type[Model], match: str) -> str:
    """The keys of ``%s::text[]`` that have a row of ``model`` (alias ``l``) matching ``match``
    (``k.key`` is the key). Each key is looked up in the index on its own: the LATERAL subquery
    with LIMIT cannot be flattened into a join, so the planner cannot choose a merge join that
    reads a whole index (for the DNC list it did). The plan does not depend on the keys, so the
    statements are prepared."""
    return (
        f"SELECT k.key FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL"  # noqa: S608
        f" (SELECT FROM {model._meta.db_table} l WHERE {match} LIMIT 1) AS found"
    )


PROBE_EXTERNAL_IDS = probe_sql(Lead, "l.campaign_id = %s AND l.external_id = k.key")
PROBE_DNC = probe_sql(DncEntry, f"l.number = k.key AND {dnc_active('l')}")
PROBE_NUMBERS = probe_sql(LeadPhone, "l.campaign_id = %s AND l.number = k.key")

# ``count`` new lead ids, and a new origin id when asked (else NULL). The sequence is looked up
# once: pg_get_serial_sequence() inside nextval() would run per row, ten times the nextval
# itself.
RESERVE_LEAD_IDS = (
    "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq)"
    " SELECT array_agg(nextval(seq)),"
    " CASE WHEN %s THEN nextval(pg_get_serial_sequence(%s, 'id')) END"
    " FROM s, generate_series(1, %s)"
)
ORIGIN_ADD = (
    f"INSERT INTO {LeadOrigin._meta.db_table}"  # noqa: S608
    " (id, via, by, call, lead_import_id, created_at) VALUES (%s, %s, %s, %s, %s, %s)"
)

LEAD_COLUMNS = (
    "id, campaign_id, allocation_id, fields, external_id, priority, callback_at,"
    " contact_hours_id, closed, version, checked_out_by, origin_id, created_at, updated_at"
)
PHONE_COLUMNS = "lead_id, campaign_id, field_name, number, blocked"
COPY_LEADS = f"COPY {Lead._meta.db_table} ({LEAD_COLUMNS}) FROM STDIN"
COPY_PHONES = f"COPY {LeadPhone._meta.db_table} ({PHONE_COLUMNS}) FROM STDIN"


# --- the versioned write (leads/services/lead_version.py) --------------------------------------


def lead_write_sql(columns: Iterable[str]) -> str:
    """``UPDATE`` of ``columns`` of a lead still at the expected version and not checked out by
    anyone but the holder. Parameters: the column values, now, id, version, now, holder."""
    assignments = "".join(f"{column} = %s, " for column in columns)
    return (
        f"UPDATE {Lead._meta.db_table} SET {assignments}"  # noqa: S608 (checked names)
        " version = version + 1, updated_at = %s"
        " WHERE id = %s AND version = %s"
        " AND (checked_out_until IS NULL OR checked_out_until <= %s OR checked_out_by = %s)"
    )


# --- the operator's edit (leads/services/lead_edit.py) -----------------------------------------

# Each number of the lead %s blocked exactly while it is on the DNC list.
LEAD_PHONES_MARK_DNC = (
    f"UPDATE {LeadPhone._meta.db_table} p SET blocked = EXISTS ("  # noqa: S608 (model names)
    f" SELECT 1 FROM {DncEntry._meta.db_table} d WHERE d.number = p.number AND {dnc_active('d')})"
    " WHERE p.lead_id = %s"
)


# --- update (leads/services/lead_update.py) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadForUpdate:
    """A lead as an update reads it, with its own Contact Hours zone, its numbers as (field,
    number, blocked) and which of its numbers and of the body's new ones are on the DNC list."""

    id: int
    external_id: str | None
    fields: dict[str, Any]
    version: int
    disposition_id: int | None
    checked_out_by: str
    checked_out_until: dt.datetime | None
    checked_out_number: str
    zone: str | None
    phones: list[tuple[str, str, bool]]
    dnc: list[str]


# Parameters: the body's new numbers, campaign id, external id (LEAD_FOR_UPDATE) or lead id
# (LEAD_FOR_UPDATE_BY_ID).
_LEAD_FOR_UPDATE = f"""
    SELECT l.id, l.external_id, l.fields, l.version, l.disposition_id, l.checked_out_by,
           l.checked_out_until, l.checked_out_number, h.timezone AS zone, p.phones,
           ARRAY(SELECT d.number FROM {DncEntry._meta.db_table} d
                 WHERE d.number = ANY(%s::text[] || p.numbers) AND {dnc_active("d")}) AS dnc
    FROM {Lead._meta.db_table} l
    LEFT JOIN {ContactHours._meta.db_table} h ON h.id = l.contact_hours_id
    CROSS JOIN LATERAL (
        SELECT coalesce(json_agg(json_build_array(p.field_name, p.number, p.blocked)
                                 ORDER BY p.id), '[]') AS phones,
               coalesce(array_agg(p.number), '{{}}') AS numbers
        FROM {LeadPhone._meta.db_table} p WHERE p.lead_id = l.id) p
    WHERE l.campaign_id = %s AND """  # noqa: S608
LEAD_FOR_UPDATE = _LEAD_FOR_UPDATE + "l.external_id = %s"
LEAD_FOR_UPDATE_BY_ID = _LEAD_FOR_UPDATE + "l.id = %s"


# --- dispositions (leads/services/disposition.py) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    kind: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FoundDisposition:
    """An enabled disposition with its actions in position order."""

    id: int
    name: str
    priority: int | None
    final: bool
    callback_required: bool
    actions: tuple[ActionRow, ...]

    @classmethod
    def of_row(cls, actions: list[list[Any]], **columns: Any) -> FoundDisposition:
        return cls(actions=tuple(ActionRow(*action) for action in actions), **columns)

    @classmethod
    def of(cls, disposition: Disposition) -> FoundDisposition:
        """From a disposition read with the ORM (the admin's)."""
        return cls(
            id=disposition.pk,
            name=disposition.name,
            priority=disposition.priority,
            final=disposition.final,
            callback_required=disposition.callback_required,
            actions=tuple(
                ActionRow(a.pk, a.kind, a.params)
                for a in disposition.actions.order_by("position", "id")
            ),
        )


# Parameters: disposition set id, name (any case).
DISPOSITION_FIND = f"""
    SELECT d.id, d.name, d.priority, d.final, d.callback_required,
        (SELECT coalesce(json_agg(json_build_array(a.id, a.kind, a.params)
                                  ORDER BY a.position, a.id), '[]')
         FROM {DispositionAction._meta.db_table} a WHERE a.disposition_id = d.id) AS actions
    FROM {Disposition._meta.db_table} d
    WHERE d.disposition_set_id = %s AND lower(d.name) = lower(%s) AND d.enabled"""  # noqa: S608

DISPOSITION_RECORD_INSERT = (
    f"INSERT INTO {DispositionRecord._meta.db_table} (lead_id, disposition_id,"  # noqa: S608
    " source, agent, dialed_number, notes, actions, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


# --- DNC list (leads/services/dnc.py) ----------------------------------------------------------

DNC_TABLE = DncEntry._meta.db_table

# The active entries among the numbers of ``%s::text[]``, with their expiry: one index probe
# per number, for the reason ``probe_sql`` gives (``= ANY(array)`` is a scan of the list).
DNC_FIND_ACTIVE = f"""
SELECT k.key, found.expires_on FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL
  (SELECT d.expires_on FROM {DNC_TABLE} d WHERE d.number = k.key AND {dnc_active("d")}
   LIMIT 1) AS found
"""  # noqa: S608 (table names from the models)

# Adds the numbers (arrays of number, expiry, source, note; the numbers distinct), or changes
# the expiry and note of those already listed where they differ. A number already listed as
# asked is not written and not returned; ``added`` tells the others apart. The first listing's
# source stays.
DNC_UPSERT = f"""
INSERT INTO {DNC_TABLE} (number, expires_on, source, note, created_at)
SELECT n, e, s, t, now()
FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[]) AS u(n, e, s, t)
ON CONFLICT (number) DO UPDATE SET expires_on = EXCLUDED.expires_on, note = EXCLUDED.note
WHERE ({DNC_TABLE}.expires_on, {DNC_TABLE}.note)
    IS DISTINCT FROM (EXCLUDED.expires_on, EXCLUDED.note)
RETURNING id, (xmax = 0) AS added
"""  # noqa: S608


# --- manual imports (leads/services/lead_import.py) -------------------------------------------

# The uploaded file, stored in pieces: one added (import id, seq, bytes), one read (id, seq).
IMPORT_FILE_PIECE_ADD = (
    f"INSERT INTO {LeadImportFile._meta.db_table} (lead_import_id, seq, data)"  # noqa: S608
    " VALUES (%s, %s, %s)"
)
# An import's progress after a chunk, and a piece of its report: on the chunk's transaction, or,
# for a dry run, on a connection of its own (whose progress is committed while its leads never
# are), so written the same way on either.
IMPORT_PROGRESS = (
    f"UPDATE {LeadImport._meta.db_table} SET processed = processed + %s,"  # noqa: S608
    " imported = imported + %s, rejected = rejected + %s, rejected_by_code = %s::jsonb"
    " WHERE id = %s"
)
IMPORT_REPORT_ADD = (
    f"INSERT INTO {LeadImportReport._meta.db_table}"  # noqa: S608
    " (lead_import_id, first_line, rows, text) VALUES (%s, %s, %s, %s)"
)
IMPORT_FILE_PIECE = (
    f"SELECT data FROM {LeadImportFile._meta.db_table}"  # noqa: S608
    " WHERE lead_import_id = %s AND seq = %s"
)


# --- the lead search's words (leads.services.lead_words, leads.selectors.lead_words_search) ---

_LEADS, _CHANGES, _WORDS = (
    Lead._meta.db_table,
    LeadChange._meta.db_table,
    LeadWords._meta.db_table,
)
# A lead's words: its field values' (strings and numbers), lower-cased, no stemming.
_WORDS_OF = "jsonb_to_tsvector('simple', {}, '[\"string\", \"numeric\"]')"

# The search as a text search query (text, cast to tsquery where used): each of its words as a
# prefix, all of them; NULL when it has none (only punctuation).
WORDS_QUERY = (
    "SELECT string_agg(quote_literal(lexeme) || ':*', ' & ') FROM unnest(to_tsvector('simple', %s))"
)

_WORDS_UPSERT = f"""
    INSERT INTO {_WORDS} (lead_id, campaign_id, words)
    SELECT l.id, l.campaign_id, {_WORDS_OF.format("l.fields")} FROM {_LEADS} l {{where}}
    ON CONFLICT (lead_id) DO UPDATE SET
        campaign_id = EXCLUDED.campaign_id, words = EXCLUDED.words"""  # noqa: S608
# Parameters: the last id done, the last id to do (of leads; of changes).
WORDS_NEW = _WORDS_UPSERT.format(where="WHERE l.id > %s AND l.id <= %s")
_CHANGED_IDS = f"SELECT DISTINCT lead_id FROM {_CHANGES} WHERE id > %s AND id <= %s"  # noqa: S608
WORDS_CHANGED = _WORDS_UPSERT.format(where=f"WHERE l.id IN ({_CHANGED_IDS})")
WORDS_GONE = f"""
    DELETE FROM {_WORDS} w WHERE w.lead_id IN ({_CHANGED_IDS})
    AND NOT EXISTS (SELECT 1 FROM {_LEADS} l WHERE l.id = w.lead_id)"""  # noqa: S608
WORDS_HIGHEST_IDS = (
    f"SELECT (SELECT coalesce(max(id), 0) FROM {_LEADS}),"  # noqa: S608
    f" (SELECT coalesce(max(id), 0) FROM {_CHANGES})"
)

# The indexed words of the leads below the leads mark and unchanged since the changes mark; the
# words of the rest made on the fly: the leads past the mark (a range of the primary key) and
# those changed since (looked up by id). Three parts, so that each is an index's.
_WORDS_MATCH = (
    f"campaign_id = ANY(%(campaigns)s) AND {_WORDS_OF.format('fields')} @@ %(query)s::tsquery"
)
WORDS_SEARCH = f"""
    SELECT w.lead_id FROM {_WORDS} w
    WHERE w.words @@ %(query)s::tsquery AND w.campaign_id = ANY(%(campaigns)s)
      AND w.lead_id <= %(leads)s
      AND NOT EXISTS (SELECT 1 FROM {_CHANGES} c
                      WHERE c.lead_id = w.lead_id AND c.id > %(changes)s)
    UNION ALL
    SELECT id FROM {_LEADS} WHERE id > %(leads)s AND {_WORDS_MATCH}
    UNION ALL
    SELECT id FROM {_LEADS}
    WHERE id IN (SELECT lead_id FROM {_CHANGES} WHERE id > %(changes)s) AND id <= %(leads)s
      AND {_WORDS_MATCH}
    LIMIT %(most)s"""  # noqa: S608
