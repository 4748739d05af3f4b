"""Production settings are safe by default: with DJANGO_SECURE=1 (the Docker image) Django's
deployment check has nothing to warn about, and a server with a real database or DJANGO_SECURE
refuses to start on the development key."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PRODUCTION = {
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused",  # never connected to by the check
    "DJANGO_SECURE": "1",
    "DJANGO_SECRET_KEY": "k7#Qm2vX9pL4zR8wT1yB6nF3jH5dS0aG-e!uC%iO^xV&bN*M-Lp0q7Zw",
    "DJANGO_ALLOWED_HOSTS": "campaigner.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env={**base, **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_check_deploy_has_no_warnings_under_the_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_a_key_a_real_deployment_refuses_to_start() -> None:
    keyless = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}
    for env in ({**keyless, "DJANGO_SECURE": "0"}, {"DJANGO_SECURE": "1"}):
        result = manage("check", **env)
        assert result.returncode != 0
        assert "DJANGO_SECRET_KEY must be set" in result.stderr
