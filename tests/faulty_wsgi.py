"""The server's WSGI application with a fault put where a call keeps its answer
(``campaigner.idempotency.answer_keep``), for the tests of real server processes
(``tests.live.gunicorn(..., app="tests.faulty_wsgi:application")``). ``IDEMPOTENCY_FAULT``:

- ``slow``: wait ``IDEMPOTENCY_FAULT_S`` seconds (default 1) before keeping, inside the write's
  transaction, so racers sent together are all past their first look for an answer;
- ``crash``: kill the process (SIGKILL, nothing tidied) right after the write's commit, before
  its answer is sent.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from django.db import transaction

from campaigner.wsgi import application

FAULT = os.environ.get("IDEMPOTENCY_FAULT", "")


def _install() -> None:
    """Put the fault in (after the application above has set Django up)."""
    from campaigner import idempotency
    from campaigner.api import idempotent

    keep = idempotency.answer_keep

    def faulty_keep(*args: Any) -> None:
        if FAULT == "slow":
            time.sleep(float(os.environ.get("IDEMPOTENCY_FAULT_S", "1")))
        keep(*args)
        if FAULT == "crash":
            transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))

    idempotency.answer_keep = faulty_keep  # type: ignore[assignment]
    idempotent.answer_keep = faulty_keep  # type: ignore[assignment]


_install()
__all__ = ["application"]
