"""Real server processes for the tests that are about processes (and the benchmarks): the test
database as a URL for them, a free port, waiting for a server to listen, and a gunicorn of this
checkout with the production configuration."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

from tests.conftest import REPO


def database_url() -> str:
    """The test database as a URL; a unix-socket directory goes in ``?host=`` (libpq's way)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "")
    if str(db["HOST"]).startswith("/"):
        return f"postgres://{user}@/{db['NAME']}?host={quote(db['HOST'])}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Return once ``server`` accepts connections on ``port``; raise if it exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)


@contextmanager
def gunicorn(
    logs: Path, *args: str, app: str = "campaigner.wsgi:application", **env: str
) -> Iterator[tuple[int, int]]:
    """gunicorn on a free loopback port, configured as ``make run`` and the image run it
    (``campaigner.gunicorn_conf``, access log on), serving the test database; its access log
    goes to ``logs/access.log`` and everything else it and Django log to ``logs/error.log``.
    ``app``: another WSGI application (one with a fault put in). Yields the port and the
    master's pid; stops the server on exit."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "gunicorn", app,
        "--config", "python:campaigner.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
        "--access-logfile", str(logs / "access.log"), *args,
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url(), **env},
        stdout=subprocess.DEVNULL,
        stderr=(logs / "error.log").open("wb"),
    )
    try:
        wait_listening(port, server)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` to the server as it is (no client library to tidy it); the answer's
    status, headers (names lower-cased) and body, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read an answer until the server closes: its status, headers (names lower-cased) and
    body as sent."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def broker_env() -> dict[str, str]:
    """What a server or worker process needs to share this test run's broker: the folder of
    its embedded Redis (tests/conftest.py gives each run its own)."""
    from django.conf import settings

    if settings.EMBEDDED_BROKER_DIR is None:
        return {}
    return {"CAMPAIGNER_BROKER_DIR": str(settings.EMBEDDED_BROKER_DIR)}


@contextmanager
def celery(command: str, log: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``celery <command> *args`` (worker or beat) of this checkout on the test database and
    this run's broker; its log is appended to ``log``. Stopped on exit (if still running)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "campaigner.celery:app", command, "-l", "info",
         *args],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url(), **broker_env(), **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def celery_worker(log: Path, queue: str, **env: str) -> Any:
    """A ``celery worker`` (solo pool) consuming ``queue`` only (``celery``)."""
    return celery("worker", log, "--pool", "solo", "-Q", queue, **env)
