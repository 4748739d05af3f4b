"""Every row of the project's tables, to assert that an operation changed nothing."""

from __future__ import annotations

from typing import Any

from django.db import connection

_SKIP = {
    "django_migrations",
    "django_session",
    "django_admin_log",
    "django_content_type",
    "auth_permission",
}


def database_rows(exclude: frozenset[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:
    tables = [t for t in connection.introspection.table_names() if t not in _SKIP | exclude]
    rows = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            rows[table] = cursor.fetchall()
    return rows
