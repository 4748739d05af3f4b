"""Every update of a lead is recorded in ``leads_leadchange``, by the database, in the
transaction of the update, whoever wrote it (the services, the dialer's hand-out function, a bulk
job's statements, raw SQL).

One trigger per UPDATE statement, not per row: it reads the statement's old and new rows from
its transition tables, so a bulk job's chunk of 10,000 leads costs one INSERT … SELECT, and a
single-lead write one small insert. It records a row whose version or fields changed: the
writer (``changed_via``, ``changed_by``, set by every versioned write), both versions, and each
changed value as ``[old, new]``: template fields under ``fields`` (a removed field's new value
is null, a JSON null stays ``null`` inside the array), the system values under ``system``.
"""

from django.db import migrations

# The system values a change records: (name in the history, column).
_SYSTEM = (
    ("allocation", "allocation_id"), ("externalId", "external_id"), ("priority", "priority"),
    ("callbackDate", "callback_at"), ("contactHours", "contact_hours_id"),
    ("disposition", "disposition_id"), ("closed", "closed"), ("checkedOutBy", "checked_out_by"),
    ("checkedOutUntil", "checked_out_until"), ("checkedOutNumber", "checked_out_number"),
)  # fmt: skip
# Each changed one as {name: [old, new]}: one object of every name, the unchanged ones null
# and stripped (two calls a row, where concatenating an object per value took ten).
_SYSTEM_DIFF = "jsonb_strip_nulls(jsonb_build_object(\n        {}))".format(
    ",\n        ".join(
        f"'{name}', CASE WHEN o.{column} IS DISTINCT FROM n.{column}"
        f" THEN jsonb_build_array(o.{column}, n.{column}) END"
        for name, column in _SYSTEM
    )
)

# The history rows of one UPDATE statement, old and new rows paired by id.
_RECORD = f"""INSERT INTO leads_leadchange (lead_id, kind, at, via, by, version_before,
                              version_after, fields, system)
SELECT n.id, 'update', statement_timestamp(), n.changed_via, n.changed_by, o.version, n.version,
       CASE WHEN o.fields = n.fields THEN '{{}}'::jsonb
            ELSE lead_change_diff(o.fields, n.fields) END,
       {_SYSTEM_DIFF}
FROM lead_history_old o JOIN lead_history_new n ON n.id = o.id
WHERE n.version IS DISTINCT FROM o.version OR n.fields IS DISTINCT FROM o.fields"""  # noqa: S608

# Constant text (no input reaches it). A statement of one row (every single-lead write) runs the
# query planned once; a larger one (a bulk job's chunk) has it planned for its own size: a plan
# cached for one row pairs 10,000 rows by a nested loop, 100,000,000 comparisons.
CREATE = f"""
CREATE FUNCTION lead_change_diff(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, jsonb_build_array(a -> k, b -> k)), '{{}}'::jsonb)
    FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k)
    WHERE (a -> k) IS DISTINCT FROM (b -> k)
$$;

CREATE FUNCTION lead_history_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM lead_history_new) <= 1 THEN
        {_RECORD};
    ELSE
        EXECUTE $q${_RECORD}$q$;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER lead_history AFTER UPDATE ON leads_lead
    REFERENCING OLD TABLE AS lead_history_old NEW TABLE AS lead_history_new
    FOR EACH STATEMENT EXECUTE FUNCTION lead_history_record();
"""  # noqa: S608

DROP = """
DROP TRIGGER IF EXISTS lead_history ON leads_lead;
DROP FUNCTION IF EXISTS lead_history_record();
DROP FUNCTION IF EXISTS lead_change_diff(jsonb, jsonb);
"""


class Migration(migrations.Migration):
    dependencies = [("leads", "0015_history_jobs_erasure")]

    operations = [migrations.RunSQL(CREATE, DROP)]
