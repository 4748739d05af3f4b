"""PostgreSQL advisory locks: the one place the project's lock keys and lock helpers are.

Transaction locks: ``advisory_xact_lock(LockKey.X, object_id)`` blocks until this transaction
holds the lock; it is released at commit or rollback, so a crash never leaves it held.

Session locks (held across transactions, by this thread's connection, until released or the
connection ends, so a lost worker's lock goes with its connection): ``session_lock`` and
``session_try_lock`` as context managers, ``session_lock_within`` (wait no longer than a
deadline) with ``session_unlock``. Not for transaction-pooling poolers (pgbouncer
``pool_mode=transaction``): a session lock needs its session on one server connection.

Because the locks live in PostgreSQL, they serialise every process and host that shares the
database.

Keys are (class, object id) pairs, the two-``int4`` form of ``pg_advisory_xact_lock``. Object ids
above 2**31 wrap, which can only make two unrelated objects wait for each other, never let two
holders of the same object in. **Never renumber a LockKey**: running servers of two versions
must agree on what a number means.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

import psycopg
from django.db import OperationalError, connection

from campaigner.sql import execute_prepared

logger = logging.getLogger(__name__)

_INT4 = 2**31


class LockKey(IntEnum):
    # Held by every lead insert into a campaign for its whole transaction, so duplicate-phone
    # and external-id checks and the inserts they guard are one step for other inserters.
    CAMPAIGN_LEAD_INSERT = 1
    # The rate limiter (campaigner.ratelimit): the FIFO gate, the N call slots, and the manual
    # import hold on a campaign. These are session locks, held across the call, not one
    # transaction.
    RATE_GATE = 2
    RATE_SLOT = 3
    CAMPAIGN_IMPORT_HOLD = 4
    # One dialer cache rebuild of a campaign at a time, across every worker and host.
    DIALER_CACHE_REBUILD = 5
    # Held (a session lock) by the worker running a manual import, for as long as it runs: a
    # second delivery of its task sees it and leaves, and the sweeper knows an import whose
    # lock is free has lost its worker.
    LEAD_IMPORT_RUN = 6
    # Held likewise by the worker running a bulk job (leads.services.lead_job).
    LEAD_JOB_RUN = 7
    # One refresh of the lead search's words at a time (leads.services.lead_words).
    LEAD_WORDS_REFRESH = 8


def advisory_xact_lock(key: LockKey, object_id: int) -> None:
    """Wait for the transaction-scoped lock on ``(key, object_id)``. Must run inside
    ``transaction.atomic()``; raises ``RuntimeError`` otherwise (the lock would end at once)."""
    if not connection.in_atomic_block:
        raise RuntimeError("advisory_xact_lock needs an open transaction")
    with connection.cursor() as cursor:
        execute_prepared(
            cursor, "SELECT pg_advisory_xact_lock(%s, %s)", [int(key), object_id % _INT4]
        )


def advisory_xact_try_lock(key: LockKey, object_id: int) -> bool:
    """Take the transaction-scoped lock on ``(key, object_id)`` if it is free; return whether
    this transaction now holds it. Never waits."""
    if not connection.in_atomic_block:
        raise RuntimeError("advisory_xact_try_lock needs an open transaction")
    with connection.cursor() as cursor:
        execute_prepared(
            cursor, "SELECT pg_try_advisory_xact_lock(%s, %s)", [int(key), object_id % _INT4]
        )
        return bool(cursor.fetchone()[0])


def session_lock_within(
    key: LockKey, object_id: int, deadline: float, *, shared: bool = False
) -> bool:
    """Wait for a session lock until ``deadline`` (``time.monotonic()``); ``False`` if it was
    not granted by then (PostgreSQL's ``lock_timeout``, in ``campaignapi_lock``)."""
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        return False
    with connection.cursor() as cursor:
        try:
            execute_prepared(
                cursor,
                "SELECT campaignapi_lock(%s, %s, %s, %s)",
                [int(key), object_id % _INT4, remaining_ms, shared],
            )
        except OperationalError as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                return False
            raise
    return True


def session_unlock(key: LockKey, object_id: int, *, shared: bool = False) -> None:
    """Release a session lock. A connection that cannot say so has lost its locks already;
    it is closed so that it is not reused."""
    function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
    try:
        with connection.cursor() as cursor:
            execute_prepared(cursor, f"SELECT {function}(%s, %s)", [int(key), object_id % _INT4])
    except Exception:
        logger.exception(
            "could not release advisory lock %s/%s; closing the connection", key, object_id
        )
        connection.close()


@contextmanager
def session_lock(key: LockKey, object_id: int) -> Iterator[None]:
    """Hold the session lock for the block, waiting for it as long as it takes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [int(key), object_id % _INT4])
    try:
        yield
    finally:
        session_unlock(key, object_id)


@contextmanager
def session_try_lock(key: LockKey, object_id: int) -> Iterator[bool]:
    """Take the session lock if it is free, for the block; yields whether this connection
    holds it. Never waits."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [int(key), object_id % _INT4])
        mine = bool(cursor.fetchone()[0])
    try:
        yield mine
    finally:
        if mine:
            session_unlock(key, object_id)
