"""What an entry point sets up before the first database connection: ``manage.py``, the WSGI
module, the Celery worker and beat (``campaigner.celery``) and the test run (``tests/conftest.py``)
call ``prepare()``. The settings module only reads the environment: importing it (as mypy, a
linter or a one-off script does) starts nothing and creates nothing.

``prepare()`` creates the folders this configuration writes to (the static root); when
``DATABASE_URL`` is unset it starts or attaches to the embedded PostgreSQL
(``campaigner.embedded``) and points ``DATABASES["default"]`` at its socket, and when
``CELERY_BROKER_URL`` is unset it starts or attaches to the embedded Redis
(``campaigner.embedded_broker``). Idempotent: later calls in the same process return what the
first one did.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from campaigner import embedded, embedded_broker

_prepared: list[embedded.EmbeddedPostgres | None] = []
_broker_started: list[bool] = []


def prepare() -> embedded.EmbeddedPostgres | None:
    """Set up what this process's settings need; the embedded server when one is used."""
    if _prepared:
        return _prepared[0]
    if settings.EMBEDDED_BROKER_DIR is not None:
        _broker_started.append(embedded_broker.ensure_running(settings.EMBEDDED_BROKER_DIR))
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns without
    server = None
    name = settings.EMBEDDED_DATABASE_NAME
    if name:
        server = embedded.ensure_running(settings.DATA_DIR, name)
        settings.DATABASES["default"].update(server.settings(name))
    _prepared.append(server)
    return server


def broker_started_here() -> bool:
    """Whether ``prepare()`` started the embedded Redis (rather than attaching to one)."""
    return any(_broker_started)
