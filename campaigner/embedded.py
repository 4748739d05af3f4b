"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

``pgserver`` (PyPI) ships PostgreSQL binaries; we keep its cluster under ``<data dir>/pg`` and
leave the server running between runs (``cleanup_mode=None``), so the first process pays for
``initdb`` (~2 s) and later processes only attach (~10 ms). It listens on a unix socket only,
never on TCP, so it cannot collide with a PostgreSQL already on port 5432.

Guarantees: after ``ensure_running()`` returns, the server is up and the database ``name``
exists. Safe to call from many processes at once (pgserver takes a file lock; a concurrent
``CREATE DATABASE`` is tolerated).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedPostgres:
    pgdata: Path
    socket_dir: Path
    started_here: bool  # False when this call attached to a server that was already running

    def settings(self, name: str) -> dict[str, object]:
        """Django ``DATABASES`` entry for a database on this server."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": str(self.socket_dir),
            "PORT": "",
        }


def ensure_running(data_dir: Path, name: str) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server under ``data_dir/pg`` and create ``name``."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless here.
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415 (heavy import, only needed without DATABASE_URL)
        from pgserver.utils import PostmasterInfo  # noqa: PLC0415

        pgdata = data_dir / "pg"
        pgdata.mkdir(parents=True, exist_ok=True)
        before = PostmasterInfo.read_from_pgdata(pgdata)
        was_running = before is not None and before.is_running()
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    embedded = EmbeddedPostgres(
        pgdata=pgdata, socket_dir=info.socket_dir, started_here=not was_running
    )
    _create_database(embedded, name)
    return embedded


def _create_database(server: EmbeddedPostgres, name: str) -> None:
    with psycopg.connect(
        dbname="postgres", user="postgres", host=str(server.socket_dir), autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            logger.info("created embedded database %s", name)
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it a moment ago


def stop(data_dir: Path) -> None:
    """Stop the embedded server (fast shutdown). Used by ``manage.py serve`` on exit."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # noqa: PLC0415

    pgdata = data_dir / "pg"
    # pgserver runs the cluster as its own system user when we are root (postgres refuses root).
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
