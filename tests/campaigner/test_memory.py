"""``cyclic_gc_paused``: overlapping calls share one pause, which ends with the last of them
and restores the collector as it was."""

from __future__ import annotations

import gc
import threading

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
