"""The server's own rate limit for the six lead write calls (campaignapi.md §7).

``run_limited(work, bulk=…, campaign_id=…)`` runs ``work`` (one call's service, which opens its
own transaction) so that across **every process and host sharing the database** at most
``CAMPAIGNAPI_CONCURRENCY`` calls run at once, in one first-come-first-served queue.

**Where a waiting call waits: threads of its own.** A call waits on a thread, so waiting calls
must never take the threads the rest of the server needs. Each server process therefore serves
the write calls on a pool of their own (``CAMPAIGNAPI_WRITE_THREADS``, default N + 1) and
everything else on gunicorn's ``--threads`` (``campaigner.gunicorn_worker``, which also reads
every request completely before any thread sees it). Writes past the pool wait in the process's
queue (``CAMPAIGNAPI_WRITE_QUEUE``, in memory, holding no thread and no database connection);
past that they are answered 109 at once. Measured with 40 clients keeping ``insertLeadFast``
calls in flight (N = 1, 100 ms hold, 2 workers x 4 threads), when the calls waited on the
request threads, next-lead, ``/health`` and the admin's login page took 5.4 s at p50; with the
write pool, under 200 such clients, next-lead's p99 was 15.8 ms and ``/health``'s 23 ms, no
worse than alone (README "Serving", ``make bench --only mixed``).
The other designs considered: an async wait (ASGI) would hold no thread but change the whole
server for six views; separate processes behind one port would double the memory of a worker
and still need a router. The pool is one class in the worker, and the wait itself is unchanged.

How the turn is taken (all locks are PostgreSQL session advisory locks, so they hold across
processes and hosts and vanish with a dead process's connection), on the write thread and its
database connection, the one the work then runs on:

1. *Arrival*: the call's queue bound counts from the moment its first byte reached the server
   (``campaigner.arrival``: the worker records it), so time spent waiting for a write thread,
   and for its own body, counts too.
2. *Import hold* (insert calls only): a shared lock on the campaign's ``CAMPAIGN_IMPORT_HOLD``
   key, waited for within the bound. A manual import takes it exclusively
   (``campaign_import_hold``), so inserts into that campaign wait while it runs and inserts into
   other campaigns do not.
3. *Gate*: one exclusive ``RATE_GATE`` lock. PostgreSQL grants a contended lock to its waiters in
   the order they asked, so the gate is one FIFO queue for the whole cluster.
4. *Slot*: the gate holder takes the first free ``RATE_SLOT`` lock of N (polling every
   ``SLOT_POLL_S`` while all are held), then lets the gate go. Gate and slot are taken by the
   database functions of migration ``campaigner.0002`` in one round trip when uncontended.
5. **Deadline, checked before the work's transaction opens**: every wait is bounded by the
   call's deadline (``lock_timeout`` and the poll loop), and the deadline is checked once more
   after the slot is taken. A call past its deadline raises 109 there; ``work`` was never
   called, so it wrote nothing and never will.
6. *Minimum hold*: the slot is kept until ``CAMPAIGNAPI_MIN_CALL_MS`` after it was taken.

**The order promised**: calls start in the order they reach the database gate. Within one
process that is the order they arrived (its queue and its pool are first in, first out); calls
of different processes are ordered by when each reached the gate, which a process's write
threads do as soon as the call before them in that process has taken its slot. A call never
overtakes an earlier call of its own process.

**Database connections**: each thread keeps one, so a server holds at most
``workers x (threads + CAMPAIGNAPI_WRITE_THREADS)``, however many calls wait.

Not for transaction-pooling connection poolers (pgbouncer ``pool_mode=transaction``): session
locks need the session to stay on one server connection.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import connection
from django.db.utils import OperationalError
from django.urls import resolve
from prometheus_client import Counter, Gauge, Histogram

from campaigner.api.servlet import servlet_path
from campaigner.arrival import request_arrival
from campaigner.contract import CampaignApiError, Code, envelope
from campaigner.locks import LockKey, session_lock, session_lock_within, session_unlock
from campaigner.sql import execute_prepared

logger = logging.getLogger(__name__)

T = TypeVar("T")

SLOT_POLL_S = 0.005  # only the one gate holder in the whole cluster polls
RETRY_AFTER_S = 30

QUEUE_LENGTH = Gauge(
    "campaignapi_queue_length",
    "Lead write calls waiting for a slot",
    multiprocess_mode="livesum",  # summed over the live processes under gunicorn
)
QUEUE_WAIT = Histogram(
    "campaignapi_queue_wait_seconds",
    "Time from a lead write call's arrival to its slot (or its 109)",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
TIMEOUTS = Counter("campaignapi_queue_timeouts_total", "Calls answered 109", ["kind"])


@functools.lru_cache(maxsize=4096)
def limited_path(path: str) -> bool:
    """Whether ``path`` is one of the rate-limited calls (its view says ``rate_limited``), read
    as the CampaignAPI reads paths (``servlet_path``)."""
    try:
        match = resolve(servlet_path(path))
    except Exception:  # no such path (404), or one the resolver cannot read: not a write call
        return False
    return bool(getattr(getattr(match.func, "view_class", None), "rate_limited", False))


_QUEUE_FULL = "the server's queue of lead write calls is full; nothing was written"


def queue_full_envelope() -> dict[str, Any]:
    """The answer to a write call refused because its process's queue is full (109)."""
    return envelope(Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS, _QUEUE_FULL)


def count_queue_full() -> None:
    TIMEOUTS.labels("queue_full").inc()
    logger.warning("lead write call answered 109 at once: %s", _QUEUE_FULL)


def _too_many(kind: str, arrived: float) -> CampaignApiError:
    waited = time.monotonic() - arrived
    TIMEOUTS.labels(kind).inc()
    QUEUE_WAIT.labels(kind).observe(waited)
    logger.warning("lead write call answered 109 after waiting %.3f s (%s)", waited, kind)
    return CampaignApiError(
        Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS,
        "the call could not start within its queue bound; nothing was written",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def run_limited(work: Callable[[], T], *, bulk: bool, campaign_id: int | None = None) -> T:
    """Run ``work`` under the global limit; return its result or raise 109 (nothing written).

    ``bulk`` selects the queue bound (multi-lead 600 s, single-lead 60 s by default), counted
    from the request's arrival. ``campaign_id`` (inserts) makes the call wait for a manual
    import into that campaign. Must be called outside a transaction.
    """
    if connection.in_atomic_block:
        raise RuntimeError("rate-limited work must start outside a transaction")
    kind = "bulk" if bulk else "single"
    arrived = request_arrival()
    bound = (
        settings.CAMPAIGNAPI_BULK_QUEUE_TIMEOUT_S if bulk else settings.CAMPAIGNAPI_QUEUE_TIMEOUT_S
    )
    deadline = arrived + bound
    QUEUE_LENGTH.inc()
    queued = True
    try:
        with (
            _import_hold_shared(campaign_id, deadline, kind, arrived),
            _slot(deadline, kind, arrived),
        ):
            QUEUE_LENGTH.dec()
            queued = False
            QUEUE_WAIT.labels(kind).observe(time.monotonic() - arrived)
            started = time.monotonic()
            result = work()
            rest = settings.CAMPAIGNAPI_MIN_CALL_MS / 1000 - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)
            return result
    finally:
        if queued:
            QUEUE_LENGTH.dec()


def _take_slot(deadline: float) -> int | None:
    """Pass the gate and take a slot (the gate is let go with it); ``None`` at the deadline.

    The uncontended case is one round trip (``campaignapi_enter``); while every slot is busy,
    only the gate holder polls (``campaignapi_try_slot``), every ``SLOT_POLL_S``.
    """
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        return None
    args = [int(LockKey.RATE_GATE), int(LockKey.RATE_SLOT), settings.CAMPAIGNAPI_CONCURRENCY]
    with connection.cursor() as cursor:
        try:
            execute_prepared(
                cursor, "SELECT campaignapi_enter(%s, %s, %s, %s)", [*args, remaining_ms]
            )
        except OperationalError as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                return None
            raise
        slot = cursor.fetchone()[0]
        try:
            while slot < 0 and time.monotonic() < deadline:
                time.sleep(SLOT_POLL_S)
                execute_prepared(cursor, "SELECT campaignapi_try_slot(%s, %s, %s)", args)
                slot = cursor.fetchone()[0]
        finally:
            if slot < 0:
                session_unlock(LockKey.RATE_GATE, 0)
    return slot if slot >= 0 else None


@contextmanager
def _slot(deadline: float, kind: str, arrived: float) -> Iterator[int]:
    slot = _take_slot(deadline)
    if slot is None:
        raise _too_many(kind, arrived)
    try:
        # The structural guarantee: past its deadline a call never starts its work.
        if time.monotonic() >= deadline:
            raise _too_many(kind, arrived)
        yield slot
    finally:
        session_unlock(LockKey.RATE_SLOT, slot)


@contextmanager
def _import_hold_shared(
    campaign_id: int | None, deadline: float, kind: str, arrived: float
) -> Iterator[None]:
    if campaign_id is None:
        yield
        return
    if not session_lock_within(LockKey.CAMPAIGN_IMPORT_HOLD, campaign_id, deadline, shared=True):
        raise _too_many(kind, arrived)
    try:
        yield
    finally:
        session_unlock(LockKey.CAMPAIGN_IMPORT_HOLD, campaign_id, shared=True)


@contextmanager
def campaign_import_hold(campaign_id: int) -> Iterator[None]:
    """Hold a campaign for a manual import: lead inserts into it wait (then 109) until the
    block exits. Waits for inserts already past the hold to finish. Uses this thread's
    connection, outside any transaction."""
    with session_lock(LockKey.CAMPAIGN_IMPORT_HOLD, campaign_id):
        yield
