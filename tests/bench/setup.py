"""Point Django (and any server the benchmark starts) at a separate benchmark database."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from psycopg import sql


def configure() -> None:
    url = os.environ.get("DATABASE_URL")
    if url:
        parts = urlsplit(url)
        name = parts.path.lstrip("/") + "_bench"
        _create_database(urlunsplit(parts._replace(path="/postgres")), name)
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    else:
        os.environ["CAMPAIGNER_DB_NAME"] = "campaigner_bench"  # created by the embedded helper
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaigner.settings")
    django.setup()
    from django.core.management import call_command

    from campaigner.startup import prepare

    prepare()  # an entry point like manage.py: the embedded server, if that is the database

    call_command("migrate", verbosity=0)


def _create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def settle() -> None:
    """Bring the benchmark database to a settled state before a timed run: the lead, phone and
    DNC tables vacuumed and analysed, and a checkpoint taken, so that no run meets autovacuum
    or a checkpoint left over from what came before it (seeding, or the other side's run)."""
    from django.db import connection

    from leads.models import DncEntry, Lead, LeadPhone

    tables = ", ".join(m._meta.db_table for m in (Lead, LeadPhone, DncEntry))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")
        cursor.execute("CHECKPOINT")
