"""Where a request ends (``campaigner.http_framing``): whatever way the bytes are cut into
reads, the worker hands gunicorn exactly one request at a time, the next one's bytes are kept,
and a request it cannot frame is closed after gunicorn has answered it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigner.http_framing import Incoming, Limits

LIMITS = Limits(head_bytes=64 * 1024, body_bytes=1024 * 1024, spool_bytes=100)

GET = b"GET /health?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"
POST = b"POST /p%20q HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
CHUNKED = (
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=v\r\nhello\r\nB\r\n world, 123\r\n0\r\nTrailer: t\r\n\r\n"
)
EXPECT = b"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\nHost: a\r\n\r\nabc"


def receive(stream: bytes, cuts: list[int]) -> list[tuple[bytes, str | None, bool]]:
    """Feed ``stream`` cut at ``cuts``; each request handed over (its bytes, path, close)."""
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    requests = []
    incoming = Incoming(LIMITS)
    for piece in pieces:
        rest = piece
        while rest or incoming.complete:
            if incoming.complete:
                requests.append((b"".join(incoming.chunks()), incoming.path, incoming.close_after))
                incoming = Incoming(LIMITS)
                continue
            rest = incoming.feed(rest)
    return requests


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_cut_of_pipelined_requests_frames_each_one(data: st.DataObject) -> None:
    stream = GET + POST + CHUNKED + EXPECT + GET
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=40)))
    assert receive(stream, cuts) == [
        (GET, "/health", False),
        (POST, "/p q", False),
        (CHUNKED, "/c", False),
        (EXPECT.replace(b"Expect: 100-continue\r\n", b""), "/e", False),
        (GET, "/health", False),
    ]


def test_the_client_waiting_for_100_continue_is_told_once_the_head_is_in() -> None:
    incoming = Incoming(LIMITS)
    head = EXPECT[: EXPECT.index(b"abc")]
    assert incoming.feed(head) == b""
    assert incoming.expects_continue and not incoming.complete
    incoming.feed(b"abc")
    assert incoming.complete and not incoming.expects_continue


def test_bodies_over_the_spool_size_wait_on_disk_and_come_back_whole() -> None:
    body = bytes(range(256)) * 40
    incoming = Incoming(LIMITS)
    incoming.feed(b"POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert incoming.complete
    assert incoming._body is not None and incoming._body._rolled
    assert b"".join(incoming.chunks()).endswith(body)


def test_what_cannot_be_framed_is_handed_over_and_closed() -> None:
    for request in [
        b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
        b"NOT HTTP\r\n\r\n",
        b"GET / HTTP/1.1\r\n folded: header\r\n\r\n",
    ]:
        incoming = Incoming(LIMITS)
        incoming.feed(request)
        assert incoming.complete and incoming.close_after, request


def test_a_declared_body_over_the_limit_is_not_read() -> None:
    incoming = Incoming(LIMITS)
    rest = incoming.feed(b"POST /x HTTP/1.1\r\nContent-Length: 2000000\r\n\r\nabc")
    assert incoming.complete and incoming.close_after and rest == b"abc"


def test_a_head_over_the_limit_is_refused_without_waiting_for_its_end() -> None:
    incoming = Incoming(Limits(head_bytes=100, body_bytes=10, spool_bytes=10))
    incoming.feed(b"GET /" + b"a" * 200)
    assert incoming.complete and incoming.head_too_large


def test_slow_heads_and_bodies_are_told_apart_from_slow_networks() -> None:
    incoming = Incoming(LIMITS)
    assert not incoming.too_slow(1e9, 5, 100, 10)  # nothing sent yet: the idle rule applies
    incoming.feed(b"POST /x HTTP/1.1\r\n")
    start = incoming.first_byte_at
    assert start is not None
    assert not incoming.too_slow(start + 4, 5, 100, 10)
    assert incoming.too_slow(start + 6, 5, 100, 10)
    incoming.feed(b"Content-Length: 5000\r\n\r\n" + b"x" * 1000)
    done = incoming.head_done_at
    assert done is not None
    assert not incoming.too_slow(done + 19, 5, 100, 10)  # 1,000 bytes >= 9 s x 100 bytes/s
    assert incoming.too_slow(done + 21, 5, 100, 10)
