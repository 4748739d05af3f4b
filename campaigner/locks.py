"""PostgreSQL advisory locks, the one place the project's lock keys are defined.

``advisory_xact_lock(LockKey.X, object_id)`` blocks until this transaction holds the lock; it
is released at commit or rollback, so a crash never leaves it held. Because the lock lives in
PostgreSQL, it serialises every process and host that shares the database.

Keys are (class, object id) pairs, the two-``int4`` form of ``pg_advisory_xact_lock``. Object ids
above 2**31 wrap, which can only make two unrelated objects wait for each other, never let two
holders of the same object in. **Never renumber a LockKey**: running servers of two versions
must agree on what a number means.
"""

from __future__ import annotations

from enum import IntEnum

from django.db import connection

from campaigner.sql import execute_prepared

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
