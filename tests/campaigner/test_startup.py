"""Importing the settings has no side effects; the test run's broker is its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from campaigner.celery import app as celery_app
from tests.conftest import REPO


def test_importing_settings_starts_nothing_and_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["CAMPAIGNER_DATA_DIR"] = str(data_dir)
    script = "import campaigner.settings as s; print(s.DATABASES['default']['HOST'] or '-')"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip() == "-"  # no server was asked for its socket
    assert not data_dir.exists()  # no pg cluster, no broker or static folder


def test_tasks_of_the_test_run_go_to_a_broker_of_its_own() -> None:
    if settings.EMBEDDED_BROKER_DIR is None:
        return  # a real broker: the test run's queue is the configured one
    folder = settings.EMBEDDED_BROKER_DIR
    assert not folder.is_relative_to(settings.DATA_DIR)
    assert celery_app.conf.broker_url == f"redis+socket://{folder}/redis.sock"
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)  # the run's own Redis answers
