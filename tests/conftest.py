from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_FILE = REPO / "campaigner" / "demo" / "provision.json"


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
