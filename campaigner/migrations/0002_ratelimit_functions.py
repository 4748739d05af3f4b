"""Database functions of the rate limiter (campaigner/ratelimit.py): each takes the locks a call
needs in one round trip. ``lock_timeout`` is set with ``is_local`` so it ends with the
statement's own transaction (the caller runs in autocommit), even when the wait times out."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION campaignapi_lock(lock_key int, object_id int, timeout_ms int,
                                            shared boolean) RETURNS void AS $$
BEGIN
    PERFORM set_config('lock_timeout', timeout_ms || 'ms', true);
    IF shared THEN
        PERFORM pg_advisory_lock_shared(lock_key, object_id);
    ELSE
        PERFORM pg_advisory_lock(lock_key, object_id);
    END IF;
END $$ LANGUAGE plpgsql;

-- Take the first free slot; on success let the gate go. Returns the slot, or -1 (gate kept).
CREATE OR REPLACE FUNCTION campaignapi_try_slot(gate_key int, slot_key int, slots int)
RETURNS int AS $$
BEGIN
    FOR slot IN 0 .. slots - 1 LOOP
        IF pg_try_advisory_lock(slot_key, slot) THEN
            PERFORM pg_advisory_unlock(gate_key, 0);
            RETURN slot;
        END IF;
    END LOOP;
    RETURN -1;
END $$ LANGUAGE plpgsql;

-- Wait for the gate (FIFO in PostgreSQL's lock queue) within timeout_ms, then try the slots.
CREATE OR REPLACE FUNCTION campaignapi_enter(gate_key int, slot_key int, slots int,
                                             timeout_ms int) RETURNS int AS $$
BEGIN
    PERFORM campaignapi_lock(gate_key, 0, timeout_ms, false);
    RETURN campaignapi_try_slot(gate_key, slot_key, slots);
END $$ LANGUAGE plpgsql;
"""

DROP = """
DROP FUNCTION IF EXISTS campaignapi_enter(int, int, int, int);
DROP FUNCTION IF EXISTS campaignapi_try_slot(int, int, int);
DROP FUNCTION IF EXISTS campaignapi_lock(int, int, int, boolean);
"""


class Migration(migrations.Migration):
    dependencies = [("campaigner", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
