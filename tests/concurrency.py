"""Running test code in real threads, each with its own database connection, and making racers
meet at the contested step (as Saleor's ``race_condition`` helpers do)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from django.db import connection, transaction

from campaigner import idempotency

T = TypeVar("T")


def in_threads(
    n: int, target: Callable[[int], T], *, together: bool = False, stagger_s: float = 0.0
) -> list[T]:
    """Run ``target(i)`` for i in 0..n-1, each in its own thread; return the results in order.

    ``together``: every thread waits at a barrier first, so they start at the same moment.
    ``stagger_s``: start them that far apart instead. Each thread closes its connection. A
    thread that raised leaves ``None`` in its place (and its traceback on stderr).
    """
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            if together:
                barrier.wait()
            results[i] = target(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
        time.sleep(stagger_s)
    for thread in threads:
        thread.join(timeout=120)
    return results


def meet_before(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, parties: int, timeout: float = 30
) -> threading.Barrier:
    """Patch ``owner.name`` so that each call waits until ``parties`` calls have arrived, then
    they all run it at once. Put it on the guarded step (the conditional write, the lock), so
    every racer has done everything before it when the first one goes through: a race that
    the guard does not win shows, whatever the machine's load. A racer that never arrives
    breaks the barrier after ``timeout`` seconds (``BrokenBarrierError``) instead of hanging."""
    barrier = threading.Barrier(parties, timeout=timeout)
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return barrier


def first_calls_meet(monkeypatch: pytest.MonkeyPatch, target: str, parties: int) -> None:
    """Patch ``target`` (a dotted name) so that each thread's first call of it waits until
    ``parties`` threads have made theirs; later calls pass. For a step every racer takes once
    before the guard and may take again after it (a read that finds nothing yet)."""
    barrier = threading.Barrier(parties, timeout=30)
    seen = threading.local()
    module, name = target.rsplit(".", 1)
    original = getattr(__import__(module, fromlist=[name]), name)

    def meet(*args: Any, **kwargs: Any) -> Any:
        if not getattr(seen, "met", False):
            seen.met = True
            barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(target, meet)


@contextmanager
def held_elsewhere(hold: Callable[[Callable[[], None]], Any]) -> Iterator[None]:
    """Run ``hold(wait)`` on a thread of its own (its own database connection) and enter the
    block once it calls ``wait()``, which returns when the block exits: a lock, a slot or an
    open transaction held by someone else meanwhile."""
    holding, release = threading.Event(), threading.Event()

    def wait() -> None:
        holding.set()
        release.wait(20)

    def run() -> None:
        try:
            hold(wait)
        finally:
            connection.close()

    holder = threading.Thread(target=run)
    holder.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join()


def key_held(scope: str, key: str) -> Any:
    """Another call's transaction that has written its answer for ``key`` and not yet ended
    (rolled back on exit)."""

    def hold(wait: Callable[[], None]) -> None:
        with transaction.atomic():
            answer = idempotency.Answer("other", "POST elsewhere", 200, "text/plain", b"")
            idempotency.answer_keep(scope, key, answer)
            wait()
            transaction.set_rollback(True)

    return held_elsewhere(hold)
