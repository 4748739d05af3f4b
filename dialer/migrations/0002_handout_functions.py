"""Database functions of the dialer (dialer/services.py).

``contact_hours_open(hours, at)``: is ``at`` inside the Contact Hours ``hours`` (NULL: no
restriction)? PL/pgSQL rather than SQL so that its plans are cached per session (a SQL function
that cannot be inlined is planned again on every call). The wall-clock comparison of dialer/schedule.py in SQL, with PostgreSQL's own
IANA zone data (``AT TIME ZONE``); tests/dialer/test_schedule_sql.py checks the two agree,
daylight-saving changes included.

``dialer_next_lead(campaign, holder, until)``: the whole hand-out in one round trip. It takes the
first entry of the campaign's current cache generation (``FOR UPDATE SKIP LOCKED``: concurrent
callers take different entries), deletes it, re-checks the lead's eligibility (domain.md §2)
with the lead row locked, and checks it out with a version bump; a stale entry is dropped and
the next one tried. Returns no row when the cache has nothing eligible left.
"""

from django.db import migrations

CREATE = """
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
    RETURN NOT EXISTS (SELECT 1 FROM campaigner_contacthourscloseddate d
                       WHERE d.contact_hours_id = p_hours AND d.date = v_wall::date)
       AND EXISTS (SELECT 1 FROM campaigner_contacthourswindow w
                   WHERE w.contact_hours_id = p_hours
                     AND w.weekday = extract(isodow FROM v_wall)::int - 1
                     AND w.start_minute <= v_minute AND v_minute < w.end_minute);
END $$;
"""

CREATE += """
CREATE OR REPLACE FUNCTION dialer_next_lead(p_campaign bigint, p_holder text, p_until timestamptz)
RETURNS TABLE (out_lead_id bigint, out_external_id text, out_allocation_id bigint,
               out_fields jsonb, out_version int, out_number text, out_skipped int)
LANGUAGE plpgsql AS $$
DECLARE
    v_entry bigint;
    v_lead bigint;
    v_number text;
    v_now timestamptz := clock_timestamp();
BEGIN
    out_skipped := 0;
    LOOP
        SELECT e.id, e.lead_id INTO v_entry, v_lead
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

        -- Eligibility (domain.md section 2), the lead row locked until the check-out commits.
        v_number := NULL;
        SELECT (SELECT p.number FROM leads_leadphone p
                WHERE p.lead_id = l.id AND NOT p.blocked
                  AND NOT EXISTS (SELECT 1 FROM leads_dncentry d
                                  WHERE d.number = p.number
                                    AND (d.expires_on IS NULL OR d.expires_on > CURRENT_DATE))
                ORDER BY p.id LIMIT 1)
        INTO v_number
        FROM leads_lead l
        JOIN campaigner_allocation a ON a.id = l.allocation_id
        JOIN campaigner_campaign c ON c.id = l.campaign_id
        JOIN campaigner_campaigntemplate t ON t.id = c.template_id
        WHERE l.id = v_lead AND c.active AND a.started AND NOT l.closed
          AND (l.callback_at IS NULL OR l.callback_at <= v_now)
          AND (l.checked_out_until IS NULL OR l.checked_out_until <= v_now)
          AND contact_hours_open(COALESCE(l.contact_hours_id, t.contact_hours_id), v_now)
        FOR UPDATE OF l;

        IF v_number IS NOT NULL THEN
            UPDATE leads_lead
            SET checked_out_by = p_holder, checked_out_until = p_until,
                checked_out_number = v_number, version = version + 1, updated_at = v_now
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

DROP = """
DROP FUNCTION IF EXISTS dialer_next_lead(bigint, text, timestamptz);
DROP FUNCTION IF EXISTS contact_hours_open(bigint, timestamptz);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("dialer", "0001_cache"),
        ("leads", "0005_dispositions_and_deliveries"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
