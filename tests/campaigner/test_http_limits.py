"""What the HTTP server in front of the application lets through, and how it answers what it
does not (hardening #13): request lines and header fields up to 64 KiB reach the application,
so a long wrong key is the contract's 401; anything longer, or not HTTP at all, is answered in
the JSON envelope by gunicorn itself, never with its HTML page. Against a real gunicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaignapi import BASE, make_api
from tests.live import gunicorn, raw_exchange

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def port(tmp_path: Path, client: object) -> Iterator[int]:
    make_api(client)
    with gunicorn(tmp_path, "--workers", "1", "--threads", "2") as (port, _):
        yield port


def exchange(port: int, raw: bytes) -> tuple[int, str, dict[str, object]]:
    """Send ``raw`` as it is; the answer's status, content type and JSON body."""
    status, headers, body = raw_exchange(port, raw)
    return status, headers.get("content-type", ""), json.loads(body)


def get(port: int, target: str, *headers: str) -> tuple[int, str, dict[str, object]]:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode())


@pytest.mark.parametrize("length", [10_000, 64 * 1024 - 200])
def test_a_long_wrong_key_in_the_query_is_401(port: int, length: int) -> None:
    status, kind, body = get(port, f"{BASE}getCampaignTemplateList?apiKey={'k' * length}")
    assert (status, kind, body["code"]) == (401, "application/json", -1)
    assert body["message"] == "INVALID_API_KEY"


def test_a_long_wrong_key_in_the_header_is_401(port: int) -> None:
    status, kind, body = get(port, f"{BASE}getCampaignTemplateList", f"X-Api-Key: {'k' * 60_000}")
    assert (status, kind, body["code"]) == (401, "application/json", -1)


def test_a_request_line_over_64_kib_is_414_in_the_envelope(port: int) -> None:
    status, kind, body = get(port, f"{BASE}getCampaignTemplateList?apiKey={'k' * 70_000}")
    assert (status, kind) == (414, "application/json")
    assert body["code"] == 150 and body["message"] == "MALFORMED_REQUEST"


def test_a_header_over_64_kib_is_431_in_the_envelope(port: int) -> None:
    status, kind, body = get(port, f"{BASE}getCampaignTemplateList", f"X-Api-Key: {'k' * 70_000}")
    assert (status, kind, body["code"]) == (431, "application/json", 150)


def test_what_is_not_http_is_400_in_the_envelope(port: int) -> None:
    status, kind, body = exchange(port, b"\x16\x03\x01 hello\r\n\r\n")
    assert (status, kind, body["code"]) == (400, "application/json", 150)
