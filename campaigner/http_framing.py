"""Where one HTTP/1.x request ends, found as its bytes arrive (``Incoming``).

The server's worker (``campaigner.gunicorn_worker``) reads every request off its threads: its
event loop feeds a connection's bytes to an ``Incoming`` until the request is complete, and only
then hands it to a thread, which parses it with gunicorn's own parser from memory. This module
is only the framing a server needs for that (RFC 9112 §6.3): the head ends at the first empty
line; then a body of ``Content-Length`` bytes, or a ``chunked`` body up to its last chunk and
trailers, or none. It validates nothing else: a request it cannot frame (two different lengths,
an unknown transfer coding, a bad chunk size) is "complete" as far as it got and marked
``close_after``, so gunicorn's parser answers the error and the connection closes.

Bodies over ``spool_bytes`` go to a temporary file, so a queue of large uploads is bounded in
memory. A body longer than ``body_limit`` is not read: the request is handed over at that point
(``close_after``) and the application answers 413 from the declared length, or from the bytes
it has.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import unquote, urlsplit

CRLF = b"\r\n"
_CHUNK_LINE_LIMIT = 4096
_TRAILER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Limits:
    head_bytes: int  # the request line and header fields, together
    body_bytes: int  # the largest body any view accepts
    spool_bytes: int  # bodies over this are kept on disk while they wait


class Incoming:
    """One request being received on a connection. ``feed`` it bytes until ``complete``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.first_byte_at: float | None = None  # time.monotonic() of the request's first byte
        self.head_done_at: float | None = None
        self.complete = False
        self.close_after = False  # the connection cannot carry another request after this one
        self.expects_continue = False  # the client waits for "100 Continue" before its body
        self.head_too_large = False
        self.path: str | None = None  # the target's path, percent-decoded (None: unparsable)
        self._head = bytearray()
        self._body: IO[bytes] | None = None
        self.body_bytes = 0  # raw body bytes received (chunk framing included)
        self._length = 0  # Content-Length still to come
        self._chunked: _Chunked | None = None

    # -- receiving --------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Take ``data``; return the bytes past the end of this request (the next one's)."""
        if self.complete or not data:
            return data
        if self.first_byte_at is None:
            data = data.lstrip(CRLF)  # empty lines before a request line are allowed (§2.2)
            if not data:
                return b""
            self.first_byte_at = time.monotonic()
        if self.head_done_at is None:
            data = self._feed_head(data)
            if self.head_done_at is None or self.complete:
                return data
        return self._feed_body(data)

    def _feed_head(self, data: bytes) -> bytes:
        start = max(0, len(self._head) - 3)
        self._head += data
        end = self._head.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._head) > self.limits.head_bytes:
                self.head_too_large = True
                self._finish(close=True)
            return b""
        rest = bytes(self._head[end + 4 :])
        del self._head[end + 4 :]
        self.head_done_at = time.monotonic()
        self._read_head()
        if self._length == 0 and self._chunked is None:
            self._finish()
        return rest

    def _read_head(self) -> None:
        lines = bytes(self._head[:-4]).split(CRLF)
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            self._finish(close=True)
            return
        _method, target, version = parts
        self.path = _path(target)
        lengths: set[bytes] = set()
        codings: list[bytes] = []
        kept = [lines[0]]
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or line[:1] in (b" ", b"\t"):
                self._finish(close=True)
                return
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif name == b"expect" and value.lower() == b"100-continue":
                # Answered here, by the loop, once; the application never sees it.
                self.expects_continue = version == b"HTTP/1.1"
                continue
            kept.append(line)
        self._head[:] = CRLF.join(kept) + b"\r\n\r\n"
        if codings:
            if lengths or codings[-1] != b"chunked":
                self._finish(close=True)  # refused by the parser (RFC 9112 §6.3)
                return
            self._chunked = _Chunked()
            return
        if len(lengths) > 1 or (lengths and not next(iter(lengths)).isdigit()):
            self._finish(close=True)
            return
        self._length = int(next(iter(lengths))) if lengths else 0
        if self._length > self.limits.body_bytes:
            self._finish(close=True)  # the view answers 413 from Content-Length

    def _feed_body(self, data: bytes) -> bytes:
        if self._chunked is not None:
            used, done, bad = self._chunked.feed(data)
        else:
            used = min(len(data), self._length)
            self._length -= used
            done, bad = self._length == 0, False
        self._store(data[:used])
        if bad:
            self._finish(close=True)
        elif done:
            self._finish()
        elif self.body_bytes > self.limits.body_bytes:
            self._finish(close=True)  # the view reads past its limit and answers 413
        return data[used:]

    def _store(self, data: bytes) -> None:
        if not data:
            return
        if self._body is None:
            self._body = tempfile.SpooledTemporaryFile(max_size=self.limits.spool_bytes)
        self._body.write(data)
        self.body_bytes += len(data)

    def _finish(self, *, close: bool = False) -> None:
        self.complete = True
        self.expects_continue = False
        self.close_after = self.close_after or close
        if self.head_done_at is None:
            self.head_done_at = time.monotonic()

    # -- timing -----------------------------------------------------------------------------

    def started(self) -> bool:
        return self.first_byte_at is not None

    def too_slow(self, now: float, head_timeout: float, body_rate: float, grace: float) -> bool:
        """The head took longer than ``head_timeout`` s, or the body arrives slower than
        ``body_rate`` bytes/s on average once ``grace`` s have passed since the head."""
        if self.first_byte_at is None or self.complete:
            return False
        if self.head_done_at is None:
            return now - self.first_byte_at > head_timeout
        late = now - self.head_done_at - grace
        return late > 0 and self.body_bytes < late * body_rate

    # -- handing over -----------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """The request as received (its head without ``Expect``), for gunicorn's parser."""
        yield bytes(self._head)
        body, self._body = self._body, None
        if body is None:
            return
        with body:
            body.seek(0)
            while piece := body.read(1024 * 1024):
                yield piece

    def discard(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


class _Chunked:
    """The end of a ``chunked`` body, found incrementally (RFC 9112 §7.1)."""

    def __init__(self) -> None:
        self.line = bytearray()  # a chunk-size line or a trailer line being received
        self.data_left = 0  # of the current chunk's data
        self.crlf_left = 0  # of the CRLF after it
        self.in_trailers = False
        self.trailer_bytes = 0

    def feed(self, data: bytes) -> tuple[int, bool, bool]:
        """(bytes of ``data`` that belong to the body, body complete, body unframeable)."""
        i = 0
        while i < len(data):
            if self.data_left:
                step = min(self.data_left, len(data) - i)
                self.data_left -= step
                i += step
                continue
            if self.crlf_left:
                step = min(self.crlf_left, len(data) - i)
                if data[i : i + step] != CRLF[2 - self.crlf_left :][:step]:
                    return i, True, True  # chunk data not followed by CRLF
                self.crlf_left -= step
                i += step
                continue
            end = data.find(b"\n", i)
            if end < 0:
                self.line += data[i:]
                if len(self.line) > _CHUNK_LINE_LIMIT:
                    return len(data), True, True
                return len(data), False, False
            self.line += data[i : end + 1]
            i = end + 1
            line, self.line = bytes(self.line), bytearray()
            if not line.endswith(CRLF):
                return i, True, True
            if self.in_trailers:
                self.trailer_bytes += len(line)
                if line == CRLF:
                    return i, True, False
                if self.trailer_bytes > _TRAILER_LIMIT:
                    return i, True, True
                continue
            size = line[:-2].split(b";", 1)[0].strip()
            if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
                return i, True, True
            length = int(size, 16)
            if length == 0:
                self.in_trailers = True
            else:
                self.data_left, self.crlf_left = length, 2
        return i, False, False


def _path(target: bytes) -> str | None:
    """The path of a request target (origin or absolute form), percent-decoded."""
    try:
        text = target.decode("latin-1")
        if not text.startswith("/"):
            text = urlsplit(text).path or "/"
        return unquote(text.split("?", 1)[0], errors="replace")
    except ValueError:
        return None
