"""gunicorn settings used by ``manage.py serve`` and the Docker image
(``gunicorn --config python:campaigner.gunicorn_conf``)."""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must not be summed into ``/metrics`` any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)
