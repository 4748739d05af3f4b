"""The dialer's eligibility rules in SQL (domain.md §2), one definition each, and the database
functions built from them. Every SQL user takes them from here: the cache rebuild
(``dialer.services._next_leads``), the hand-out (``dialer_next_lead``), and the number that
eligibility reports (``dialer.services.dialable_number``).

- ``lead_due(l, now)``: the lead's own rules: not closed, callback due, not checked out.
- ``has_dialable_number(l)`` / ``first_dialable_number(l)``: an unblocked number that is not on
  the DNC list now (``leads.sql.dnc_active``), the first in the order the numbers were stored.
- ``contact_hours_open(hours, at)``: the database function testing a Contact Hours at an
  instant in its own zone, ``contact_hours_open_in(hours, zones, at)`` in every one of
  ``zones`` (Contact Hours read in the number's zone, ``ZoneMode``); ``dialer.schedule`` is
  their Python twin (tests/dialer/test_schedule_sql.py).
- campaign active and allocation started: columns, tested where the campaign and allocation
  are joined.

``lead_eligibility`` explains the same rules in Python for a person; tests/dialer/
test_eligibility_agreement.py checks over generated leads and clocks that it agrees with what a
rebuild caches and what the hand-out gives.

The functions are (re)created after every ``migrate`` (``FUNCTIONS``, run from
``dialer.apps``), so a change here reaches every database with the next deploy's migrate.
"""

from __future__ import annotations

from campaigner.models import (
    Allocation,
    Campaign,
    CampaignTemplate,
    ContactHours,
    ContactHoursClosedDate,
    ContactHoursWindow,
)
from dialer.models import CacheEntry, CampaignCache
from leads.models import Lead
from leads.sql import dialable_numbers, has_dialable_number

LEAD = Lead._meta.db_table


def lead_due(lead: str, now: str) -> str:
    """The lead ``lead`` (an alias) may be called at ``now`` (an SQL expression) by its own
    state: not closed, no callback in the future, not checked out."""
    return (
        f"NOT {lead}.closed"
        f" AND ({lead}.callback_at IS NULL OR {lead}.callback_at <= {now})"
        f" AND ({lead}.checked_out_until IS NULL OR {lead}.checked_out_until <= {now})"
    )


def first_dialable_number(lead_id: str, *, unsorted: bool = False) -> str:
    """The lead's first dialable number. ``unsorted``: the same number, written as an ordered
    aggregate, for the rebuild's statements, which run with sorting off (their planner would
    otherwise walk the whole number table in id order for each lead)."""
    if unsorted:
        return f"(SELECT (array_agg(p.number ORDER BY p.id))[1] {dialable_numbers(lead_id)})"
    return f"(SELECT p.number {dialable_numbers(lead_id)} ORDER BY p.id LIMIT 1)"


# Parameter: the lead id.
DIALABLE_NUMBER = f"SELECT {first_dialable_number('%s')}"


# One allocation's next leads in dial order. It matches the partial index lead_dialer_order
# column for column, so it is an index scan that stops after `limit` eligible rows.
NEXT_LEADS = f"""
    SELECT l.id, l.priority, l.callback_at, l.created_at
    FROM {LEAD} l
    WHERE l.allocation_id = %(allocation)s AND {lead_due("l", "%(now)s")}
      AND (COALESCE(l.contact_hours_id, %(default)s::bigint) IS NULL
           OR COALESCE(l.contact_hours_id, %(default)s::bigint) = ANY(%(open)s))
      AND {has_dialable_number("l.id")}
    ORDER BY l.priority, l.callback_at NULLS FIRST, l.created_at DESC, l.id
    LIMIT %(limit)s"""  # noqa: S608

# The same, where some Contact Hours are read in the number's zone (%(zoned)s: their ids):
# their leads come with the Contact Hours and the number to dial, for the rebuild to read the
# windows in the number's zone; a page at a time (%(offset)s).
NEXT_LEADS_ZONED = f"""
    SELECT l.id, l.priority, l.callback_at, l.created_at,
           COALESCE(l.contact_hours_id, %(default)s::bigint) AS hours_id,
           CASE WHEN COALESCE(l.contact_hours_id, %(default)s::bigint) = ANY(%(zoned)s)
                THEN {first_dialable_number("l.id", unsorted=True)} END AS number
    FROM {LEAD} l
    WHERE l.allocation_id = %(allocation)s AND {lead_due("l", "%(now)s")}
      AND (COALESCE(l.contact_hours_id, %(default)s::bigint) IS NULL
           OR COALESCE(l.contact_hours_id, %(default)s::bigint) = ANY(%(open)s)
           OR COALESCE(l.contact_hours_id, %(default)s::bigint) = ANY(%(zoned)s))
      AND {has_dialable_number("l.id")}
    ORDER BY l.priority, l.callback_at NULLS FIRST, l.created_at DESC, l.id
    LIMIT %(limit)s OFFSET %(offset)s"""  # noqa: S608

# The planner guesses the eligibility filters' combined selectivity far too low and would read
# and sort a whole allocation instead of walking the index and stopping after `limit` rows.
# These end with the rebuild's transaction.
NEXT_LEADS_SETTINGS = (
    "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off;"
    " SET LOCAL max_parallel_workers_per_gather = 0"
)

CACHE_INSERT = (
    f"INSERT INTO {CacheEntry._meta.db_table}"  # noqa: S608
    " (cache_id, generation, position, lead_id, number, zones)"
    " SELECT %s, %s, position, lead_id, number, zones"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[])"
    " WITH ORDINALITY AS t(lead_id, number, zones, position)"
)

# Parameters: campaign, holder, check-out end. Columns named as dialer.services.HandOut's.
HANDOUT = (
    "SELECT out_lead_id AS lead_id, out_external_id AS external_id,"
    " out_allocation_id AS allocation_id, out_fields AS fields, out_number AS phone,"
    " out_version AS version, out_skipped AS skipped FROM dialer_next_lead(%s, %s, %s)"
)

# Whether the Contact Hours p_hours are open at the wall-clock time v_wall (a local timestamp)
# whose minute of the day is v_minute: not a closed date, inside a window of that weekday.
# Written once, used by both functions below (a call of one PL/pgSQL function from another
# would cost every hand-out).
_OPEN_AT_WALL = f"""
    NOT EXISTS (SELECT 1 FROM {ContactHoursClosedDate._meta.db_table} d
                WHERE d.contact_hours_id = p_hours AND d.date = v_wall::date)
    AND EXISTS (SELECT 1 FROM {ContactHoursWindow._meta.db_table} w
                WHERE w.contact_hours_id = p_hours
                  AND w.weekday = extract(isodow FROM v_wall)::int - 1
                  AND w.start_minute <= v_minute AND v_minute < w.end_minute)"""  # noqa: S608
_MINUTE = "v_minute := extract(hour FROM v_wall)::int * 60 + extract(minute FROM v_wall)::int;"

# The database functions. Like every function of the project they are frozen in a migration
# (dialer/migrations/0006_functions_frozen.py): a change here needs a new migration with the
# new text (tests/dialer/test_functions_frozen.py fails until it has one).
#
# contact_hours_open: PL/pgSQL rather than SQL so that its plans are cached per session (a SQL
# function that cannot be inlined is planned again on every call). The wall-clock comparison
# of dialer/schedule.py, with PostgreSQL's own IANA zone data (AT TIME ZONE).
#
# dialer_next_lead: the whole hand-out in one round trip. It takes the first entry of the
# campaign's current cache generation (FOR UPDATE SKIP LOCKED: concurrent callers take
# different entries), deletes it, re-checks the lead's eligibility with the lead row locked,
# and checks it out with a version bump; a stale entry is dropped and the next one tried.
# Returns no row when the cache has nothing eligible left.
FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION contact_hours_open(p_hours bigint, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_wall timestamp;
    v_minute int;
BEGIN
    IF p_hours IS NULL THEN
        RETURN true;
    END IF;
    SELECT p_at AT TIME ZONE h.timezone INTO v_wall
    FROM {ContactHours._meta.db_table} h WHERE h.id = p_hours;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    {_MINUTE}
    RETURN {_OPEN_AT_WALL};
END $$;

CREATE OR REPLACE FUNCTION contact_hours_open_in(p_hours bigint, p_zones text[],
                                                 p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_zone text;
    v_wall timestamp;
    v_minute int;
BEGIN
    FOREACH v_zone IN ARRAY p_zones LOOP
        v_wall := p_at AT TIME ZONE v_zone;
        {_MINUTE}
        IF NOT ({_OPEN_AT_WALL}) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION dialer_next_lead(p_campaign bigint, p_holder text, p_until timestamptz)
RETURNS TABLE (out_lead_id bigint, out_external_id text, out_allocation_id bigint,
               out_fields jsonb, out_version int, out_number text, out_skipped int)
LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_lead bigint;
    v_number text;
    v_entry_number text;
    v_zones text;
    v_now timestamptz := clock_timestamp();
BEGIN
    out_skipped := 0;
    LOOP
        SELECT e.id, e.lead_id, e.number, e.zones INTO v_entry, v_lead, v_entry_number, v_zones
        FROM {CacheEntry._meta.db_table} e
        WHERE e.cache_id = p_campaign
          AND e.generation = (SELECT c.generation FROM {CampaignCache._meta.db_table} c
                              WHERE c.campaign_id = p_campaign)
        ORDER BY e.position
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        DELETE FROM {CacheEntry._meta.db_table} WHERE id = v_entry;

        -- Eligibility, the lead row locked until the check-out commits.
        v_number := NULL;
        SELECT {first_dialable_number("l.id")}
        INTO v_number
        FROM {LEAD} l
        JOIN {Allocation._meta.db_table} a ON a.id = l.allocation_id
        JOIN {Campaign._meta.db_table} c ON c.id = l.campaign_id
        JOIN {CampaignTemplate._meta.db_table} t ON t.id = c.template_id
        WHERE l.id = v_lead AND c.active AND a.started AND {lead_due("l", "v_now")}
          AND CASE WHEN v_zones IS NULL
                   THEN contact_hours_open(COALESCE(l.contact_hours_id, t.contact_hours_id),
                                           v_now)
                   ELSE contact_hours_open_in(COALESCE(l.contact_hours_id, t.contact_hours_id),
                                              string_to_array(v_zones, ','), v_now) END
        FOR UPDATE OF l;
        IF v_zones IS NOT NULL AND v_number IS DISTINCT FROM v_entry_number THEN
            v_number := NULL;  -- another number now: its zones were not the ones checked
        END IF;

        IF v_number IS NOT NULL THEN
            UPDATE {LEAD}
            SET checked_out_by = p_holder, checked_out_until = p_until,
                checked_out_number = v_number, version = version + 1, updated_at = v_now,
                changed_via = 'dialer', changed_by = p_holder
            WHERE id = v_lead
            RETURNING id, external_id, allocation_id, fields, version
            INTO out_lead_id, out_external_id, out_allocation_id, out_fields, out_version;
            out_number := v_number;
            RETURN NEXT;
            RETURN;
        END IF;
        out_skipped := out_skipped + 1;
    END LOOP;
END $$;
"""  # noqa: S608

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS dialer_next_lead(bigint, text, timestamptz);
DROP FUNCTION IF EXISTS contact_hours_open(bigint, timestamptz);
DROP FUNCTION IF EXISTS contact_hours_open_in(bigint, text[], timestamptz);
"""
