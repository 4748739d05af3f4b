"""gunicorn settings used by ``manage.py serve``, the Docker image and the tests that start a
server (``gunicorn --config python:campaigner.gunicorn_conf``).

The worker is ``campaigner.gunicorn_worker.CampaignerWorker`` (gunicorn's threaded worker that
records each request's arrival, takes request lines and header fields up to 64 KiB, and answers
unreadable HTTP in the JSON envelope).

The access log never holds an API key: the vendor contract puts the key in the query string
(``?apiKey=…``), so every atom of a log line (the request line, the query, the referer, the
headers) has the value of any ``apiKey`` parameter and the ``X-Api-Key`` header replaced with
``[redacted]``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from gunicorn.glogging import Logger

from campaigner.gunicorn_worker import REQUEST_LINE_LIMIT

_KEY_PARAMETER = re.compile(r"((?:^|[?&;\s])apikey=)[^&;\s\"]*", re.IGNORECASE)
_KEY_HEADERS = ("{x-api-key}i", "{authorization}i")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the value of every ``apiKey=`` parameter (any case) replaced."""
    return _KEY_PARAMETER.sub(rf"\g<1>{REDACTED}", text) if "=" in text else text


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if name in _KEY_HEADERS:
                atoms[name] = REDACTED
            elif isinstance(value, str):
                atoms[name] = redact(value)
        return atoms


logger_class = RedactingLogger
worker_class = "campaigner.gunicorn_worker.CampaignerWorker"
limit_request_line = REQUEST_LINE_LIMIT
limit_request_field_size = REQUEST_LINE_LIMIT


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must not be summed into ``/metrics`` any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)
