"""Safe retries: the answer of a write call made with an ``Idempotency-Key`` is kept with the
write, so that the same call sent again gets that answer and writes nothing.

The guarantee: **of any number of calls with one key (in one scope), at most one writes.**

- The answer is kept by ``answer_keep`` **in the write's own transaction**, as its last
  statement: the write and its answer commit together or not at all. A server killed after the
  commit, before its answer left, has kept the answer; one killed before the commit has written
  neither, so the call may simply run again.
- The table's unique (scope, key) makes two calls with one key exclusive without any other lock:
  the second to keep its answer waits for the first's transaction; if that commits, the second
  finds its answer taken (``AnsweredMeanwhile``) and rolls its own write back; if that rolls
  back, the second's answer is kept. The wait is bounded by ``IDEMPOTENCY_WAIT_S``
  (``KeyInFlight`` past it: nothing of the second was written).
- ``answer_find`` is read before a call queues for its turn, so a call answered before costs
  one indexed read and never a place in the rate limit's queue.

What is not kept (the interfaces decide): answers of calls refused before they ran (a bad key,
id or body), the rate limit's 109, conflicts (110, 409) and server failures. None of them wrote
anything, so a retry with the same key runs the call again.

Answers are kept for ``IDEMPOTENCY_KEY_HOURS`` (24 by default): an older one is no longer
found, is replaced by a new call with its key, and is deleted by ``answers_expire`` (beat).

SQL rather than the ORM: every keyed single-lead call runs these two statements, and they are
measured against the same call without a key (``make bench --only updates``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from campaigner.contract import KeyInFlight
from campaigner.models import IdempotentAnswer
from campaigner.sql import execute_prepared

KEY_MAX_LENGTH = 255  # IdempotentAnswer.key


class AnsweredMeanwhile(Exception):
    """Another call with the key committed its answer while this one ran; this one's write is
    rolled back, and the answer kept is the one to give (``answer_find``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    fingerprint: str
    request: str
    status: int
    content_type: str
    body: bytes


def key_valid(key: str) -> bool:
    """1 to 255 printable ASCII characters (a UUID is the usual choice)."""
    return 0 < len(key) <= KEY_MAX_LENGTH and key.isascii() and key.isprintable()


def fingerprint(parts: Iterable[str | bytes]) -> str:
    """A digest of what makes a request the same request (method, path, parameters, body)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))  # so parts cannot run into each other
        digest.update(data)
    return digest.hexdigest()


_FIND = """
    SELECT fingerprint, request, status, content_type, body FROM campaigner_idempotentanswer
    WHERE scope = %s AND key = %s AND created_at > now() - make_interval(hours => %s)
"""


def answer_find(scope: str, key: str) -> Answer | None:
    """The kept answer of ``key`` in ``scope``, if a call with it has committed one that is
    not yet expired. Reads committed rows only (one indexed read)."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _FIND, [scope, key, settings.IDEMPOTENCY_KEY_HOURS])
        row = cursor.fetchone()
    if row is None:
        return None
    return Answer(row[0], row[1], row[2], row[3], bytes(row[4]))


# An expired answer of the key is replaced; a live one (or one being written by another
# transaction, once that commits) makes the insert return nothing. The row is made after
# ``set_config`` has bounded the wait for another transaction (``lock_timeout``, local to this
# transaction, which ends right after): one statement, one round trip.
_KEEP = """
    INSERT INTO campaigner_idempotentanswer
        (scope, key, fingerprint, request, status, content_type, body, created_at)
    SELECT %s, %s, %s, %s, %s, %s, %s, statement_timestamp()
    FROM (SELECT set_config('lock_timeout', %s, true)) AS wait_bound
    ON CONFLICT (scope, key) DO UPDATE SET
        fingerprint = EXCLUDED.fingerprint, request = EXCLUDED.request,
        status = EXCLUDED.status, content_type = EXCLUDED.content_type, body = EXCLUDED.body,
        created_at = EXCLUDED.created_at
    WHERE campaigner_idempotentanswer.created_at <= now() - make_interval(hours => %s)
    RETURNING id
"""


def answer_keep(scope: str, key: str, answer: Answer) -> None:
    """Keep ``answer`` for ``key`` in ``scope``, in the caller's transaction, which must be the
    write's own and must commit right after (nothing else should run between).

    Raises ``AnsweredMeanwhile`` when another call with the key has committed an answer (the
    caller's transaction must then roll back), ``KeyInFlight`` when another call's transaction
    holding the key has not ended within ``IDEMPOTENCY_WAIT_S``.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("an answer is kept in the transaction of its write")
    wait_ms = str(int(settings.IDEMPOTENCY_WAIT_S * 1000))
    params = [scope, key, answer.fingerprint, answer.request[:300], answer.status,
              answer.content_type[:100], answer.body, wait_ms,
              settings.IDEMPOTENCY_KEY_HOURS]  # fmt: skip
    with connection.cursor() as cursor:
        try:
            execute_prepared(cursor, _KEEP, params)
        except OperationalError as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise KeyInFlight(key) from None
            raise
        kept = cursor.fetchone() is not None
    if not kept:
        raise AnsweredMeanwhile(key)


def answer_keep_alone(scope: str, key: str, answer: Answer) -> None:
    """``answer_keep`` in a transaction of its own: the answer of a call that wrote nothing."""
    with transaction.atomic():
        answer_keep(scope, key, answer)


def answers_expire(now: dt.datetime | None = None, batch: int = 10_000) -> int:
    """Delete answers older than ``IDEMPOTENCY_KEY_HOURS``, ``batch`` rows per transaction (so
    no lock is held long); returns how many. Idempotent."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    removed = 0
    while True:
        ids = list(
            IdempotentAnswer.objects.filter(created_at__lte=cutoff).values_list("pk", flat=True)[
                :batch
            ]
        )
        if not ids:
            return removed
        removed += IdempotentAnswer.objects.filter(pk__in=ids, created_at__lte=cutoff).delete()[0]
