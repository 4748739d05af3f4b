"""Prepared statements: the hot path's statements are prepared, nothing else is."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from campaigner.sql import execute_prepared
from leads.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.skipif(
    settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] is None,
    reason="prepared statements are off (DJANGO_DB_PREPARED_STATEMENTS=0)",
)
def test_execute_prepared_prepares_on_first_use_and_reuses_it() -> None:
    lead = LeadFactory()
    sql = "SELECT version FROM leads_lead WHERE id = %s"
    for _ in range(3):
        with connection.cursor() as cursor:
            execute_prepared(cursor, sql, [lead.pk])
            assert cursor.fetchone() == (1,)
    assert len([s for s in prepared() if "SELECT version FROM leads_lead" in s]) == 1


def test_other_statements_are_never_prepared_however_often_they_run() -> None:
    """A prepared statement may get a generic plan that ignores its parameters; that made a
    range delete of the dialer five times slower, so the ORM's statements stay unprepared."""
    lead = LeadFactory()
    for _ in range(10):
        assert Lead.objects.filter(pk__lte=lead.pk).count() == 1
    assert not [s for s in prepared() if "leads_lead" in s]


def test_errors_come_out_as_djangos() -> None:
    from django.db import ProgrammingError

    with pytest.raises(ProgrammingError), connection.cursor() as cursor:
        execute_prepared(cursor, "SELECT no_such_column FROM leads_lead WHERE id = %s", [1])
