"""The beat schedule really rebuilds the dialer cache through a real Celery worker: ``celery
beat`` and ``celery worker`` as separate processes, on the broker this run is configured with
(the machine's Redis in CI's second run; the embedded Redis by default)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from campaigner.models import Campaign
from dialer.models import CampaignCache
from tests.conftest import REPO
from tests.dialer.conftest import allocation, make_lead
from tests.live import database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@contextmanager
def celery(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DIALER_REFRESH_SECONDS": "1",
        "CAMPAIGNER_DATA_DIR": str(tmp_path),  # its own beat schedule file
        # A queue of its own on the run's broker, so other tests' messages never mix in.
        "CELERY_TASK_DEFAULT_QUEUE": f"beat-test-{os.getpid()}",
    }
    app = ["-A", "campaigner.celery:app"]
    queue = ["-Q", env["CELERY_TASK_DEFAULT_QUEUE"]] if "CELERY_TASK_DEFAULT_QUEUE" in env else []
    commands = {
        "worker": ["worker", "--pool", "solo", "-l", "info", *queue],
        "beat": ["beat", "-l", "info", "-s", str(tmp_path / "beat-schedule")],
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", *app, *command],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"{name}.log").open("wb"),
        )
        for name, command in commands.items()
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _refreshes(campaign: Campaign, seen: int, timeout: float) -> list[object]:
    """Distinct refresh times observed until ``seen`` of them or the timeout."""
    times: list[object] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(times) < seen:
        cache = CampaignCache.objects.filter(pk=campaign.pk).first()
        if cache is not None and cache.refreshed_at not in times:
            times.append(cache.refreshed_at)
        time.sleep(0.2)
    return times


def test_beat_rebuilds_the_cache_through_a_worker(campaign: Campaign, tmp_path: Path) -> None:
    lead = make_lead(allocation(campaign))
    with celery(tmp_path) as processes:
        times = _refreshes(campaign, seen=2, timeout=60)
        alive = [p.poll() is None for p in processes]
    logs = {name: (tmp_path / f"{name}.log").read_text()[-2000:] for name in ("worker", "beat")}
    assert alive == [True, True], logs
    assert len(times) == 2, logs  # rebuilt, then rebuilt again on the next beat
    cache = CampaignCache.objects.get(pk=campaign.pk)
    assert list(
        cache.entries.filter(generation=cache.generation).values_list("lead", flat=True)
    ) == [lead.pk]
    assert settings.CELERY_BEAT_SCHEDULE["dialer-cache-refresh"]["task"] == (
        "dialer.tasks.dialer_cache_refresh_all_task"
    )
