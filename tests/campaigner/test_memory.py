"""``cyclic_gc_paused``: overlapping calls share one pause, which ends with the last of them
and restores the collector as it was."""

from __future__ import annotations

import gc
import threading

import pytest
from django.core.signals import request_finished

from campaigner.memory import cyclic_gc_paused


def test_overlapping_pauses_end_with_the_last() -> None:
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with cyclic_gc_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with cyclic_gc_paused():
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other call still runs
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_request_that_paused_the_collector_ends_with_a_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its garbage sits in the oldest generation by then (campaigner.memory); other requests
    cost no collection."""
    request_finished.send(sender=None)  # whatever an earlier test on this thread left
    generations: list[int] = []
    real_collect = gc.collect

    def collect(generation: int = 2) -> int:
        generations.append(generation)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    request_finished.send(sender=None)
    assert generations == []
    with cyclic_gc_paused():
        pass
    assert generations == [1]
    request_finished.send(sender=None)
    assert generations == [1, 2]
    request_finished.send(sender=None)
    assert generations == [1, 2]
    monkeypatch.setattr(gc, "collect", real_collect)
