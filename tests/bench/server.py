"""A gunicorn server of this checkout for the benchmarks, and a tiny HTTP client for it."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from tests.live import free_port, wait_listening

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def gunicorn(workers: int = 1, threads: int = 1, **env: str) -> Iterator[tuple[int, int]]:
    """Serve the app on a free loopback port, configured as deployed (``campaigner.gunicorn_conf``);
    yield (port, pid of the first worker)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "campaigner.wsgi:application",
         "--config", "python:campaigner.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads),
         "--timeout", "900"],
        cwd=REPO, env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port, server)
        master = psutil.Process(server.pid)
        deadline = time.monotonic() + 30
        while not master.children() and time.monotonic() < deadline:
            time.sleep(0.05)  # the port is bound before the first worker is forked
        yield port, master.children()[0].pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def post(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
