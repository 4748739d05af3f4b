"""A webhook receiver on loopback for the tests that deliver disposition actions."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Hook:
    """A local webhook receiver that answers the statuses it is given, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((dict(self.headers), body))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:  # somewhere a redirect-following client would go
                    self.send_header("Location", hook.url + "/elsewhere")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def tijuana_read(body: bytes) -> dict[str, Any]:
    """A URL action's body read as a receiver written against Noojee's reads it (the
    Tijuana project's ``CallOutcomeService``, Ruby): every value must be a string, the call
    date ``yyyy/MM/dd HH:mm:ss``, and the numbers text that ``to_i`` turns into integers
    (``""`` is 0). Fails the test when the body is not that shape."""
    payload = json.loads(body)
    assert all(isinstance(value, str) for value in payload.values()), payload
    for key in ("njAction", "njCallDuration", "njDialAttempts", "njDialedNumber",
                "njUniqueCallId", "njLeadId", "njExternalLeadId", "njCallDate"):  # fmt: skip
        assert key in payload, key
    return {
        "call_date": dt.datetime.strptime(payload["njCallDate"], "%Y/%m/%d %H:%M:%S"),
        "lead_id": int(payload["njLeadId"]),
        "unique_call_id": payload["njUniqueCallId"],
        "disposition": payload["njDisposition"],
        "campaign_name": payload["njCampaignName"],
        "allocation_name": payload["njAllocationName"],
        "dialed_number": payload["njDialedNumber"],
        "dial_attempts": int(payload["njDialAttempts"] or 0),
        "call_duration": int(payload["njCallDuration"] or 0),
    }
