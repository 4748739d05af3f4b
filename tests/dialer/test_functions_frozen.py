"""The database functions follow one rule: each is frozen in a migration (migrations never
import live code). The dialer's are built in ``dialer/sql.py`` from the rules the rebuild
shares; this test fails the moment that text and the newest migration's copy differ, which is
when a new migration must freeze the new text."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest
from django.db import connection

import campaigner
from dialer import migrations as dialer_migrations
from dialer import sql


def _newest_frozen_functions() -> str:
    names = sorted(m.name for m in pkgutil.iter_modules(dialer_migrations.__path__))
    frozen = [
        importlib.import_module(f"dialer.migrations.{name}")
        for name in names
        if "FUNCTIONS" in vars(importlib.import_module(f"dialer.migrations.{name}"))
    ]
    assert frozen, "no dialer migration freezes the functions"
    return str(frozen[-1].FUNCTIONS)


def test_the_newest_migration_holds_the_functions_dialer_sql_builds() -> None:
    assert _newest_frozen_functions().strip() == sql.FUNCTIONS.strip(), (
        "dialer/sql.py's FUNCTIONS changed: freeze the new text in a new dialer migration"
    )


@pytest.mark.django_db
def test_the_migrated_database_has_them() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('dialer_next_lead'::regproc)")
        definition = cursor.fetchone()[0]
    body = sql.FUNCTIONS.split("FUNCTION dialer_next_lead", 1)[1].split("$$", 2)[1]
    assert body.strip() in definition


def test_no_migration_imports_the_project_code() -> None:
    """Beyond ``<app>.models``, which Django's migration writer names for a field's validator
    or default (a callable a migration must find by name)."""
    root = Path(campaigner.__file__).parent.parent
    apps = {"campaigner", "leads", "dialer"}
    for path in sorted(root.glob("*/migrations/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            code = [n for n in names if n.split(".")[0] in apps and not n.endswith(".models")]
            assert not code, f"{path} imports {code}"
