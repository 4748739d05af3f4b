"""The gunicorn worker class of every server this project starts (``campaigner.gunicorn_conf``):
gunicorn's threaded worker with three changes.

- **Arrival**: the moment a request reaches the worker process (its connection accepted, or a
  kept-alive connection readable again) is given to the thread that handles it
  (``campaigner.arrival``), so the rate limit's queue bound counts the wait for a free thread.
- **Request lines up to 64 KiB** (``REQUEST_LINE_LIMIT``): the vendor contract carries the API key
  in the query string, and a client with a long (wrong) key must get the contract's 401, not
  gunicorn's HTML 414. gunicorn caps its setting at 8,190 bytes; the cap is raised here, so
  ``limit_request_line`` in the configuration can say 65,536. Header fields may be as long.
- **Errors gunicorn answers itself** (a request line or header over the limits, a request that
  is not HTTP) are JSON in the CampaignAPI's envelope (code 150) with gunicorn's status, not an
  HTML page: such a request never reaches Django, so nothing there could shape the answer.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from gunicorn import util
from gunicorn.http import message
from gunicorn.workers.gthread import ThreadWorker

from campaigner.arrival import arrived_at
from campaigner.contract import Code, envelope

REQUEST_LINE_LIMIT = 64 * 1024
message.MAX_REQUEST_LINE = max(message.MAX_REQUEST_LINE, REQUEST_LINE_LIMIT)


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, answering in the envelope instead of HTML."""
    detail = f"{reason}: the request could not be read as HTTP; nothing was done"
    body = orjson.dumps(envelope(Code.MALFORMED_REQUEST, detail))
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class CampaignerWorker(ThreadWorker):
    def init_process(self) -> None:
        util.write_error = write_json_error  # in this worker process only
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        conn.campaigner_arrived = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        with arrived_at(getattr(conn, "campaigner_arrived", None)):
            return super().handle(conn)
