"""``manage.py serve`` (``make run``) on a machine with no database or broker configured:
it starts the embedded PostgreSQL in its data folder, serves /health and the admin, and
Ctrl-C stops every process it started, the database included."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_runs_everything_on_the_embedded_defaults(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    defaults = ("DATABASE_URL", "CELERY_BROKER_URL", "CAMPAIGNER_BROKER_DIR")
    env = {k: v for k, v in os.environ.items() if k not in defaults}
    env["CAMPAIGNER_DATA_DIR"] = str(data_dir)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, body = _get(f"{base}/health")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200, f"serve did not come up: {server.poll()=}"
        assert body == '{"status": "ok"}'  # anonymous: the status alone
        status, body = _get(f"{base}/health", token="demo-admin-token-change-me")
        assert '"database": {"ok": true' in body
        assert '"broker": {"ok": true, "transport": "redis"' in body
        status, login = _get(f"{base}/admin/login/")
        assert status == 200 and "Django administration" in login
        status, metrics = _get(f"{base}/metrics")  # summed over gunicorn's worker processes
        assert status == 200 and "campaignapi_leads_inserted_total" in metrics
        assert (data_dir / "pg" / "PG_VERSION").exists()
        children = psutil.Process(server.pid).children(recursive=True)
        assert len(children) >= 3  # gunicorn, worker, beat (and their own children)
        postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])

        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, output
    assert "API key   f863246a-973e-11e6-8784-08002718f5b5" in output
    assert "insertLeadFast?fTemplateId=" in output
    assert "Authorization: Bearer demo-admin-token-change-me" in output
    assert "Stopped the embedded PostgreSQL." in output
    assert "Stopped the embedded Redis." in output
    assert not (data_dir / "broker" / "redis.sock").exists()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == "zombie"
