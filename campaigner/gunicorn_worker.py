"""The gunicorn worker class of every server this project starts (``campaigner.gunicorn_conf``).

It is gunicorn's threaded worker (``gthread``: one event loop accepts and watches connections, a
pool of threads runs the application) with one change of design and three small ones.

**Requests are read by the event loop, never by a thread.** gthread gives a connection to a
thread as soon as its first bytes arrive, and the thread then blocks reading the rest of the
head and the body: eight half-open connections held every thread of a ``make run`` server, and
every other request timed out. Here the loop reads each request completely, without blocking
(``campaigner.http_framing``), and only then hands it to a thread; large bodies wait on disk.
A client that sends nothing new for ``keepalive`` s on a kept-alive connection, or no complete
head within ``head_timeout`` s of its first byte, or a body slower than ``body_rate`` bytes/s
once ``body_grace`` s have passed, is closed (with a 408 if it had started a request). Closing
(RFC 9112 §9.6's lingering drain) happens in the loop too. A thread writes the answer with a
bounded send timeout (``send_timeout``), so a client that stops reading costs a thread that long
at most.

**Two pools: the six lead write calls have their own.** The server's rate limit
(``campaigner.ratelimit``) makes write calls wait their turn at the database. A waiting call
needs a thread, so the write calls run on a pool of their own (``CAMPAIGNAPI_WRITE_THREADS``
per process) and everything else (the dialer, the read calls, ``/api/v1/``, the admin,
``/health``, ``/metrics``) on gunicorn's ``--threads``: no waiting write ever holds a thread
another request needs. Writes past the pool wait in this process's queue, in memory (at most
``CAMPAIGNAPI_WRITE_QUEUE`` of them); past that, a write is answered 109 at once by the loop
(nothing was written, nothing will run; ``Retry-After``). Which calls are writes
is decided by the URL resolver (``campaigner.ratelimit.limited_path``), so a path means the same
view here and in Django.

The small ones:

- **Arrival**: the moment a request's first byte arrived is given to the thread that handles it
  (``campaigner.arrival``), so the rate limit's queue bound counts the time it spent waiting for
  a thread, and for its own body.
- **Request lines up to 64 KiB** (``REQUEST_LINE_LIMIT``): the vendor contract carries the API key
  in the query string, and a client with a long (wrong) key must get the contract's 401, not
  gunicorn's HTML 414. gunicorn caps its setting at 8,190 bytes; the cap is raised here, so
  ``limit_request_line`` in the configuration can say 65,536. Header fields may be as long.
- **Errors gunicorn answers itself** (a request line or header over the limits, a request that
  is not HTTP) are JSON in the CampaignAPI's envelope (code 150) with gunicorn's status, not an
  HTML page: such a request never reaches Django, so nothing there could shape the answer.

Plain HTTP/1.x only: TLS and HTTP/2 end at the proxy or load balancer in front.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from gunicorn import http, util
from gunicorn.http import message
from gunicorn.workers.gthread import TConn, ThreadWorker

from campaigner.arrival import arrived_at
from campaigner.contract import Code, envelope
from campaigner.http_framing import Incoming, Limits
from campaigner.memory import few_malloc_arenas

REQUEST_LINE_LIMIT = 64 * 1024
message.MAX_REQUEST_LINE = max(message.MAX_REQUEST_LINE, REQUEST_LINE_LIMIT)

HEAD_LIMIT = 1024 * 1024  # a request line and header fields together (431 past it)
READ_SIZE = 256 * 1024
READ_PER_EVENT = 4 * 1024 * 1024  # then the loop serves other connections before more
LINGER_S = 2.0  # a closing connection's drain (RFC 9112 §9.6)
LINGER_BYTES = 64 * 1024
SCAN_S = 0.25


def _answer(status: str, body: dict[str, Any], *headers: str) -> bytes:
    data = orjson.dumps(body)
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{head}"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode("latin-1") + data


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, answering in the envelope instead of HTML."""
    detail = f"{reason}: the request could not be read as HTTP; nothing was done"
    answer = _answer(
        f"{status_int} {reason}", envelope(Code.MALFORMED_REQUEST, detail), "Connection: close"
    )
    util.write_nonblock(sock, answer)


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HEAD_TOO_LARGE = _answer(
    "431 Request Header Fields Too Large",
    envelope(Code.MALFORMED_REQUEST, "the request head is too large; nothing was done"),
    "Connection: close",
)
_TOO_SLOW = _answer(
    "408 Request Timeout",
    envelope(Code.MALFORMED_REQUEST, "the request did not arrive in time; nothing was done"),
    "Connection: close",
)


class Conn(TConn):
    """A client connection: the request being received, and where it goes."""

    def __init__(self, cfg: Any, sock: Any, client: Any, server: Any, limits: Limits) -> None:
        super().__init__(cfg, sock, client, server)  # the socket is non-blocking
        self.limits = limits
        self.incoming = Incoming(limits)
        self.leftover = b""  # bytes of the next request, read with this one
        self.idle_since = time.monotonic()
        self.write_call = False
        self.linger_until: float | None = None

    def next_request(self) -> None:
        self.incoming = Incoming(self.limits)
        self.idle_since = time.monotonic()
        self.leftover = self.incoming.feed(self.leftover)

    def for_thread(self) -> None:
        """Give the complete request to gunicorn's parser, reading it from memory (or disk)."""
        self.parser = http.get_parser(self.cfg, self.incoming.chunks(), self.client)
        self.initialized = True


class CampaignerWorker(ThreadWorker):
    def init_process(self) -> None:
        util.write_error = write_json_error  # in this worker process only
        few_malloc_arenas()  # before any thread starts (campaigner.memory)
        super().init_process()

    # -- set-up (the application, hence Django's settings, is loaded by now) ----------------

    def run(self) -> None:
        from django.conf import settings  # noqa: PLC0415 (configured by the loaded app)

        from campaigner import ratelimit  # noqa: PLC0415

        self.limited_path = ratelimit.limited_path
        self.refusal = _answer(
            "400 Bad Request",
            ratelimit.queue_full_envelope(),
            f"Retry-After: {ratelimit.RETRY_AFTER_S}",
        )
        self.count_refusal = ratelimit.count_queue_full
        self.write_pool = ThreadPoolExecutor(
            max_workers=settings.CAMPAIGNAPI_WRITE_THREADS, thread_name_prefix="write"
        )
        self.writes_bound = settings.CAMPAIGNAPI_WRITE_THREADS + settings.CAMPAIGNAPI_WRITE_QUEUE
        self.writes = 0  # write calls of this process running or waiting for a write thread
        self.limits = Limits(
            head_bytes=HEAD_LIMIT,
            body_bytes=settings.SERVER_MAX_BODY_BYTES,
            spool_bytes=settings.SERVER_SPOOL_BYTES,
        )
        self.head_timeout = settings.SERVER_HEAD_TIMEOUT_S
        self.body_rate = settings.SERVER_BODY_MIN_RATE
        self.body_grace = settings.SERVER_BODY_GRACE_S
        self.send_timeout = settings.SERVER_SEND_TIMEOUT_S
        self.receiving: set[Conn] = set()
        self.lingering: set[Conn] = set()
        self.scanned = 0.0
        try:
            super().run()
        finally:
            self.write_pool.shutdown(wait=False, cancel_futures=True)

    def handle_quit(self, sig: Any, frame: Any) -> None:
        if hasattr(self, "write_pool"):  # not while booting
            self.write_pool.shutdown(wait=False, cancel_futures=True)
        super().handle_quit(sig, frame)

    # -- the event loop: receiving ------------------------------------------------------------

    def accept(self, listener: Any) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._receive(Conn(self.cfg, sock, client, listener.getsockname(), self.limits))

    def _receive(self, conn: Conn) -> None:
        if conn.incoming.complete:
            self._dispatch(conn)
            return
        self.receiving.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: Conn, _sock: Any) -> None:
        incoming = conn.incoming
        received = 0
        while received < READ_PER_EVENT:
            try:
                data = conn.sock.recv(READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:  # the client closed (or reset) the connection
                self._stop_receiving(conn)
                self._close(conn)
                return
            received += len(data)
            conn.leftover = incoming.feed(data)
            if incoming.complete:
                self._stop_receiving(conn)
                self._dispatch(conn)
                return
            if incoming.expects_continue:
                incoming.expects_continue = False
                self._send_small(conn, _CONTINUE)

    def _stop_receiving(self, conn: Conn) -> None:
        self.receiving.discard(conn)
        self.poller.unregister(conn.sock)

    def murder_pending(self) -> None:
        """Each turn of the loop (at most every ``SCAN_S``): close the connections that are
        idle or too slow, and those done lingering."""
        now = time.monotonic()
        if now - self.scanned < SCAN_S:
            return
        self.scanned = now
        idle_limit = self.cfg.keepalive if self.alive else min(self.cfg.keepalive, 2.0)
        for conn in list(self.receiving):
            incoming = conn.incoming
            if incoming.too_slow(now, self.head_timeout, self.body_rate, self.body_grace):
                self._stop_receiving(conn)
                self._send_small(conn, _TOO_SLOW)
                self._close(conn)
            elif not incoming.started() and now - conn.idle_since > (
                idle_limit if conn.initialized else self.head_timeout
            ):
                self._stop_receiving(conn)
                self._close(conn)
        for conn in list(self.lingering):
            if conn.linger_until is not None and now > conn.linger_until:
                self._closed(conn)

    # -- handing a complete request to a thread --------------------------------------------------

    def _dispatch(self, conn: Conn) -> None:
        if conn.incoming.head_too_large:
            self._send_small(conn, _HEAD_TOO_LARGE)
            self._close(conn)
            return
        path = conn.incoming.path
        conn.write_call = path is not None and self.limited_path(path)
        pool = self.tpool
        if conn.write_call:
            if self.writes >= self.writes_bound:
                self.count_refusal()
                conn.incoming.discard()
                conn.write_call = False
                if not self._send_small(conn, self.refusal) or conn.incoming.close_after:
                    self._close(conn)
                else:
                    conn.initialized = True
                    conn.next_request()
                    self._receive(conn)
                return
            pool = self.write_pool
        conn.for_thread()
        try:
            future = pool.submit(self.handle, conn)
        except RuntimeError:  # the pool is shut down: this worker is stopping
            self._close(conn)
            return
        self.writes += conn.write_call
        future.add_done_callback(
            lambda done: self.method_queue.defer(self.finish_request, conn, done)
        )

    def handle(self, conn: Conn) -> bool:
        """One request, on a pool thread; whether the connection may carry another."""
        req = None
        conn.sock.settimeout(self.send_timeout)  # blocking, for the answer's writes only
        try:
            with arrived_at(conn.incoming.first_byte_at):
                req = next(conn.parser)
                keep = self.handle_request(req, conn)
            return keep and not conn.incoming.close_after and bool(conn.parser.finish_body())
        except (StopIteration, http.errors.NoMoreData):
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.exception("Socket error processing request.")
            return False  # a timed-out send (a client that stopped reading) has errno None
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
            return False
        finally:
            conn.incoming.discard()

    def finish_request(self, conn: Conn, future: Future[bool]) -> None:
        """Back on the loop: read the connection's next request, or close it."""
        if conn.write_call:
            self.writes -= 1
        try:
            keep = not future.cancelled() and future.result()
        except Exception:
            keep = False
        if not keep or not self.alive:
            self._close(conn)
            return
        conn.sock.setblocking(False)
        conn.next_request()
        self._receive(conn)

    # -- closing, in the loop ------------------------------------------------------------------

    def _send_small(self, conn: Conn, data: bytes) -> bool:
        """Send a short answer without blocking; whether it all went."""
        try:
            conn.sock.setblocking(False)
            return conn.sock.send(data) == len(data)
        except OSError:
            return False

    def _close(self, conn: Conn) -> None:
        """Half-close, then drain what the client still sends for ``LINGER_S`` (so the kernel
        does not reset the connection and lose the answer), then close."""
        conn.incoming.discard()
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._closed(conn)
            return
        conn.linger_until = time.monotonic() + LINGER_S
        self.lingering.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))

    def _drain(self, conn: Conn, _sock: Any) -> None:
        try:
            data = conn.sock.recv(LINGER_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._closed(conn)

    def _closed(self, conn: Conn) -> None:
        if conn in self.lingering:
            self.lingering.discard(conn)
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        util.close(conn.sock)
