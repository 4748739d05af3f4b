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
