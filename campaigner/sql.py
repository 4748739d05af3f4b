"""Prepared statements, where the code asks for them.

A prepared statement is parsed and planned once per connection; each later run reuses the plan.
On the single-lead hot path (key check, the call's allocation, the rate limiter's slot, the
update's read and write) that halved the database time of an ``updateLeadFast`` here (3.6 ms
to 1.6 ms over ten statements).

Statements are not prepared automatically: after a few runs PostgreSQL may switch a prepared
statement to a generic plan, one that ignores the parameter values. That is right for lookups
by key, and wrong where the best plan depends on them: preparing every repeated statement made
the dialer's removal of old cache generations (``generation < %s``) go from 7 to 34 ms.
So only key lookups and writes by key go through ``execute_prepared``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.utils import CursorWrapper


def execute_prepared(
    cursor: CursorWrapper, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> None:
    """``cursor.execute(sql, params)`` as a prepared statement on the cursor's connection.
    Errors come out as Django's database errors, as from ``cursor.execute``; the statement is
    not in Django's debug query log. Without prepared statements
    (``DJANGO_DB_PREPARED_STATEMENTS=0``) this is a plain ``execute``."""
    with cursor.db.wrap_database_errors:
        cursor.cursor.execute(sql, params, prepare=True)
