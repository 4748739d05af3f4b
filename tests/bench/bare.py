"""The reference of the insert benchmark (#17): what PostgreSQL allows for an ``insertLeadsFast``
of one allocation, with nothing of the server around it.

A bare psycopg pipeline on the same database, from the same body: the body parsed with orjson,
each lead's number reduced to its digits and its template fields dumped in a few lines of
Python, then in one transaction under the campaign's insert lock:

1. COPY the batch into a temporary table;
2. one statement that classifies every lead against the external-id, DNC and phone indexes
   (one probe each per lead) and against the batch's own earlier leads (window functions), in
   the order of campaignapi.md §4.3: 112, then 104, then 105;
3. two ``INSERT … SELECT`` of the survivors (leads, then their numbers), ids from the lead
   sequence.

It answers the per-lead codes (and the new ids); the benchmark checks that they equal the
server's. Its rules are only as wide as the benchmark's batch needs (one number per lead, no
dates, priorities or Contact Hours; a lead rejected within the batch never makes a later one
pass): it is a yardstick, not a second implementation.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import psycopg
from django.db import connection

from campaigner.locks import LockKey
from leads import sql
from leads.models import DEFAULT_PRIORITY, DncEntry, Lead, LeadPhone

_PHONE_CHARACTERS = frozenset("0123456789 +-().")


def _found(table: str, match: str) -> str:
    """Whether ``table`` (alias ``t``) has a row matching ``match``: one index probe per lead
    (a LATERAL subquery with LIMIT 1 cannot become a join that reads a whole index)."""
    return f"EXISTS (SELECT FROM {table} t WHERE {match} LIMIT 1)"


_CLASSIFY = f"""
CREATE TEMP TABLE bare_checked ON COMMIT DROP AS
WITH probed AS MATERIALIZED (  -- its CASE evaluated once per lead
    SELECT b.*, CASE
        WHEN b.external_id IS NOT NULL AND {
    _found(Lead._meta.db_table, "t.campaign_id = %(campaign)s AND t.external_id = b.external_id")
} THEN 112
        WHEN {_found(DncEntry._meta.db_table, f"t.number = b.number AND {sql.dnc_active('t')}")}
            THEN 104
        WHEN {
    _found(LeadPhone._meta.db_table, "t.campaign_id = %(campaign)s AND t.number = b.number")
} THEN 105
        ELSE 0 END AS code
    FROM bare_batch b
), by_external_id AS (
    SELECT *, CASE WHEN code = 0 AND external_id IS NOT NULL
                        AND row_number() OVER (PARTITION BY code = 0, external_id ORDER BY idx) > 1
                   THEN 112 ELSE code END AS code1
    FROM probed
), by_number AS (
    SELECT *, CASE WHEN code1 = 0
                        AND row_number() OVER (PARTITION BY code1 = 0, number ORDER BY idx) > 1
                   THEN 105 ELSE code1 END AS final
    FROM by_external_id
)
SELECT idx, number, external_id, fields, final AS code,
       CASE WHEN final = 0 THEN nextval(%(sequence)s::regclass) END AS id
FROM by_number ORDER BY idx
"""

_WRITE = [
    f"""INSERT INTO {Lead._meta.db_table} ({sql.LEAD_COLUMNS})
        SELECT id, %(campaign)s, %(allocation)s, fields, external_id, {DEFAULT_PRIORITY}, NULL,
               NULL, false, 1, '', NULL, now(), now()
        FROM bare_checked WHERE code = 0""",
    f"""INSERT INTO {LeadPhone._meta.db_table} ({sql.PHONE_COLUMNS})
        SELECT id, %(campaign)s, 'FirstPhone', number, false
        FROM bare_checked WHERE code = 0""",
]
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _number(value: Any) -> str | None:
    if not isinstance(value, str) or not set(value) <= _PHONE_CHARACTERS:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 10 and digits[0] == "0":  # the batch's Australian numbers: E.164
        return "+61" + digits[1:]
    return digits or None


def bare_insert(
    campaign_id: int, allocation_id: int, body: bytes, fields: list[str]
) -> tuple[float, list[int], list[int]]:
    """Seconds, per-lead codes and the new lead ids of the batch ``body``."""
    started = time.perf_counter()
    leads = orjson.loads(body)
    codes = [0] * len(leads)
    rows = []
    for idx, lead in enumerate(leads):
        number = _number(lead.get("FirstPhone"))
        if number is None:
            codes[idx] = 102
            continue
        kept = orjson.dumps({name: lead[name] for name in fields if name in lead}).decode()
        external_id = lead.get("njExternalLeadId")
        external = "\\N" if external_id is None else str(external_id).translate(_ESCAPES)
        rows.append(f"{idx}\t{number}\t{external}\t{kept.translate(_ESCAPES)}\n")
    pgconn: psycopg.Connection[Any] = connection.connection
    with pgconn.transaction(), pgconn.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [int(LockKey.CAMPAIGN_LEAD_INSERT), campaign_id]
        )
        sequence = cursor.execute(
            "SELECT pg_get_serial_sequence(%s, 'id')", [Lead._meta.db_table]
        ).fetchone()
        assert sequence is not None
        params = {"campaign": campaign_id, "allocation": allocation_id, "sequence": sequence[0]}
        cursor.execute(
            "CREATE TEMP TABLE bare_batch (idx int, number text, external_id text, fields jsonb)"
            " ON COMMIT DROP"
        )
        with cursor.copy("COPY bare_batch FROM STDIN") as copy:
            copy.write("".join(rows).encode())
        cursor.execute(_CLASSIFY, params)
        for statement in _WRITE:
            cursor.execute(statement, params)
        cursor.execute("SELECT idx, code, id FROM bare_checked")
        ids = []
        for idx, code, lead_id in cursor.fetchall():
            codes[idx] = code
            if lead_id is not None:
                ids.append(lead_id)
    return time.perf_counter() - started, codes, ids
