"""When the server received the request this thread is handling.

The rate limit's queue bound counts from a call's arrival at the server, not from when a server
thread got round to it: under load a request can wait in gunicorn for a free thread, and that
wait is part of its queue time. ``campaigner.gunicorn_worker`` records the moment a request
reached its worker process and gives it to the thread that handles it; without it (the
development server, tests calling a view directly) the arrival is the first time it is asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def arrived_at(moment: float | None) -> Iterator[None]:
    """While handling one request: it arrived at ``moment`` (``time.monotonic()``)."""
    _local.moment = moment
    try:
        yield
    finally:
        _local.moment = None


def request_arrival() -> float:
    """The ``time.monotonic()`` at which the current request reached the server, or now."""
    moment = getattr(_local, "moment", None)
    return time.monotonic() if moment is None else float(moment)
