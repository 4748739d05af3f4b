from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_FILE = REPO / "campaigner" / "demo" / "provision.json"


def pytest_configure(config: pytest.Config) -> None:
    """The test run is an entry point like manage.py: it starts (or attaches to) the embedded
    PostgreSQL, and stops it at the end if it started it. On the embedded broker, the run's
    tasks go to a Redis of its own (in a temporary folder, stopped and removed at the end), so
    the next ``make run`` worker never executes a test's task; the servers and workers tests
    start find it through ``CAMPAIGNER_BROKER_DIR``."""
    from django.conf import settings

    from campaigner import embedded_broker
    from campaigner.startup import prepare

    # The servers and workers some tests start are given DATABASE_URL, so they need a key.
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-of-the-test-run")
    if settings.EMBEDDED_BROKER_DIR is not None:
        # A short path: a unix socket's path may not exceed 107 bytes.
        folder = Path(tempfile.mkdtemp(prefix="cmp-broker-", dir="/tmp"))
        settings.EMBEDDED_BROKER_DIR = folder
        settings.CELERY_BROKER_URL = embedded_broker.url(folder)
        os.environ["CAMPAIGNER_BROKER_DIR"] = str(folder)
        config.stash[_BROKER_DIR] = folder
    server = prepare()
    config.stash[_STARTED_DATABASE] = server is not None and server.started_here


def pytest_unconfigure(config: pytest.Config) -> None:
    from django.conf import settings

    from campaigner import embedded, embedded_broker

    if config.stash.get(_STARTED_DATABASE, False):
        embedded.stop(settings.DATA_DIR)
    if folder := config.stash.get(_BROKER_DIR, None):
        embedded_broker.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


_BROKER_DIR = pytest.StashKey[Path]()
_STARTED_DATABASE = pytest.StashKey[bool]()


@pytest.fixture
def demo_spec() -> dict[str, Any]:
    """A fresh copy of the demo provisioning file, safe to mutate."""
    return json.loads(DEMO_FILE.read_text())


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 at 10^6 rounds costs ~0.3 s per check; tests check passwords, not the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Close connections after each request or rate-limited call instead of keeping them for
    a minute: the rate limiter's executor threads would otherwise keep the test database open
    and it could not be dropped at the end."""
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _no_minimum_call_hold(settings: Any) -> None:
    # The 100 ms minimum hold of a lead write call is tested in tests/campaigner/test_ratelimit.py;
    # elsewhere it would only make the suite slow.
    settings.CAMPAIGNAPI_MIN_CALL_MS = 0


@pytest.fixture(autouse=True)
def _no_key_failures_left_over(request: pytest.FixtureRequest) -> None:
    """Wrong keys are counted on a connection of their own, so that the count outlives a
    request's rollback (``campaigner.api.auth.wrong_secret_count``): a test's wrong keys
    outlive the test's own rollback too, and enough of them would lock 127.0.0.1 out of the
    tests after it. Each test with the database starts without them."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")  # the database, as the test's marker asks
    from django.db import DEFAULT_DB_ALIAS, connections

    from campaigner.models import KeyFailure

    # Committed at once, on a connection of its own, as the counts are: deleted in the test's
    # transaction, the rows would stay locked and a wrong key's count would wait on them.
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with own.cursor() as cursor:
            cursor.execute(f"DELETE FROM {KeyFailure._meta.db_table}")
    finally:
        own.close()
