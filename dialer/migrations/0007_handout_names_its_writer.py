# ruff: noqa: W291 (the text is frozen as dialer/sql.py builds it, trailing spaces included)
"""The dialer's database functions frozen again: the hand-out (``dialer_next_lead``) now names
itself and the agent as the lead's writer (``changed_via``, ``changed_by``), so the lead's
history (migration leads.0016) records each check-out as the dialer's. The reverse puts back
the text of 0006.
"""

import importlib

from django.db import migrations

FUNCTIONS = r"""
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
    FROM campaigner_contacthours h WHERE h.id = p_hours;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    v_minute := extract(hour FROM v_wall)::int * 60 + extract(minute FROM v_wall)::int;
    RETURN 
    NOT EXISTS (SELECT 1 FROM campaigner_contacthourscloseddate d
                WHERE d.contact_hours_id = p_hours AND d.date = v_wall::date)
    AND EXISTS (SELECT 1 FROM campaigner_contacthourswindow w
                WHERE w.contact_hours_id = p_hours
                  AND w.weekday = extract(isodow FROM v_wall)::int - 1
                  AND w.start_minute <= v_minute AND v_minute < w.end_minute);
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
        v_minute := extract(hour FROM v_wall)::int * 60 + extract(minute FROM v_wall)::int;
        IF NOT (
    NOT EXISTS (SELECT 1 FROM campaigner_contacthourscloseddate d
                WHERE d.contact_hours_id = p_hours AND d.date = v_wall::date)
    AND EXISTS (SELECT 1 FROM campaigner_contacthourswindow w
                WHERE w.contact_hours_id = p_hours
                  AND w.weekday = extract(isodow FROM v_wall)::int - 1
                  AND w.start_minute <= v_minute AND v_minute < w.end_minute)) THEN
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
        FROM dialer_cacheentry e
        WHERE e.cache_id = p_campaign
          AND e.generation = (SELECT c.generation FROM dialer_campaigncache c
                              WHERE c.campaign_id = p_campaign)
        ORDER BY e.position
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        DELETE FROM dialer_cacheentry WHERE id = v_entry;

        -- Eligibility, the lead row locked until the check-out commits.
        v_number := NULL;
        SELECT (SELECT p.number FROM leads_leadphone p WHERE p.lead_id = l.id AND NOT p.blocked AND NOT EXISTS (SELECT 1 FROM leads_dncentry d WHERE d.number = p.number AND (d.expires_on IS NULL OR d.expires_on > CURRENT_DATE)) ORDER BY p.id LIMIT 1)
        INTO v_number
        FROM leads_lead l
        JOIN campaigner_allocation a ON a.id = l.allocation_id
        JOIN campaigner_campaign c ON c.id = l.campaign_id
        JOIN campaigner_campaigntemplate t ON t.id = c.template_id
        WHERE l.id = v_lead AND c.active AND a.started AND NOT l.closed AND (l.callback_at IS NULL OR l.callback_at <= v_now) AND (l.checked_out_until IS NULL OR l.checked_out_until <= v_now)
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
            UPDATE leads_lead
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
"""

PREVIOUS = importlib.import_module("dialer.migrations.0006_functions_frozen").FUNCTIONS


class Migration(migrations.Migration):
    dependencies = [("dialer", "0006_functions_frozen"), ("leads", "0016_lead_history_trigger")]

    operations = [migrations.RunSQL(FUNCTIONS, PREVIOUS)]
