"""What an entry point sets up before the first database connection: ``manage.py``, the WSGI
module, the Celery worker and beat (``campaigner.celery``) and the test run (``tests/conftest.py``)
call ``prepare()``. The settings module only reads the environment: importing it (as mypy, a
linter or a one-off script does) starts nothing and creates nothing.

``prepare()`` creates the folders this configuration writes to (the filesystem broker's, the
static root) and, when ``DATABASE_URL`` is unset, starts or attaches to the embedded PostgreSQL
(``campaigner.embedded``) and points ``DATABASES["default"]`` at its socket. Idempotent: later
calls in the same process return what the first one did.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from campaigner import embedded

_prepared: list[embedded.EmbeddedPostgres | None] = []


def prepare() -> embedded.EmbeddedPostgres | None:
    """Set up what this process's settings need; the embedded server when one is used."""
    if _prepared:
        return _prepared[0]
    for folder in broker_folders():
        folder.mkdir(parents=True, exist_ok=True)
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns without
    server = None
    name = settings.EMBEDDED_DATABASE_NAME
    if name:
        server = embedded.ensure_running(settings.DATA_DIR, name)
        settings.DATABASES["default"].update(server.settings(name))
    _prepared.append(server)
    return server


def broker_folders() -> list[Path]:
    """The filesystem broker's folders (none for a real broker)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    keys = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
    return [Path(options[key]) for key in keys if key in options]
