"""The production image ships the runtime lock only, and every beat entry can expire."""

from __future__ import annotations

import re

from django.conf import settings

from tests.conftest import REPO

DEV_TOOLS = ("pytest", "pytest-django", "hypothesis", "mypy", "ruff", "factory-boy", "uv")


def _pins(lock: str) -> dict[str, str]:
    text = (REPO / lock).read_text()
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", text, re.M))


def test_runtime_lock_has_no_development_tools() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert not set(runtime) & set(DEV_TOOLS)
    assert {"pytest", "mypy", "ruff", "import-linter"} <= set(dev)
    # The dev lock is the runtime lock, same versions, plus the tools.
    assert {name: dev.get(name) for name in runtime} == runtime


def test_image_installs_the_runtime_lock_and_runs_unprivileged() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "requirements-dev.lock" not in dockerfile
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert dockerfile.count("FROM ") == 2
    last_user = re.findall(r"^USER (\S+)", dockerfile, re.M)[-1]
    assert last_user not in ("root", "0")


def test_every_beat_entry_expires() -> None:
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["options"]["expires"] <= entry["schedule"], name  # type: ignore[index]
