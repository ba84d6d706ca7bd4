"""Native-memory guards (app/heap.py, app/engines/memory.py): an engine's heap is trimmed once it is
idle, never under a call, at most every interval; a host's every interval; oneDNN's cache setting
defers to the environment."""

from __future__ import annotations

import threading

import pytest

from app.engines.memory import PRIMITIVE_CACHE_ENV, limit_primitive_cache
from app.heap import MALLOC_TRIM, HeapTrimmer, PeriodicTrim


class Trims:
    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()


def test_an_engine_that_falls_idle_is_trimmed_once() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=60.0, delay_s=0.01, trim=trims)
    for _ in range(3):
        with heap.call():
            pass
    assert trims.event.wait(5.0)
    assert not _another(trims, wait_s=0.2)  # idle since: nothing more to give back
    assert trims.count == 1 and heap.trims == 1


def test_no_trim_while_a_call_is_in_flight() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=0.0, delay_s=0.01, trim=trims)
    with heap.call():
        inner = heap.call()
        inner.__enter__()
    # one call still runs: the first call's end arms nothing
    assert not trims.event.wait(0.2)
    inner.__exit__(None, None, None)
    assert trims.event.wait(5.0)
    assert trims.count == 1


def test_a_busy_engine_trims_at_most_every_interval() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=0.5, delay_s=0.01, trim=trims)
    with heap.call():
        pass
    assert trims.event.wait(5.0)
    trims.event.clear()
    with heap.call():  # idle again at once: the next trim waits for the interval
        pass
    assert not trims.event.wait(0.2)
    assert trims.event.wait(5.0)
    assert trims.count == 2


def test_close_cancels_a_pending_trim() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=0.0, delay_s=0.2, trim=trims)
    with heap.call():
        pass
    heap.close()
    assert not trims.event.wait(0.5)


def test_periodic_trim_at_most_every_interval() -> None:
    trims = Trims()
    now = [100.0]
    periodic = PeriodicTrim(30.0, trim=trims, clock=lambda: now[0])
    ticks = []
    for t in (100.0, 101.0, 129.0, 130.0, 131.0, 200.0):
        now[0] = t
        ticks.append(periodic.tick())
    assert ticks == [True, False, False, True, False, True]
    assert trims.count == periodic.trims == 3


def test_glibc_trims_here() -> None:
    if MALLOC_TRIM is None:
        pytest.skip("this C library has no malloc_trim")
    heap = HeapTrimmer()
    assert heap.available
    heap.run()
    assert heap.trims == 1


def test_the_primitive_cache_setting_defers_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIMITIVE_CACHE_ENV, raising=False)
    assert limit_primitive_cache() == "0"
    monkeypatch.setenv(PRIMITIVE_CACHE_ENV, "64")
    assert limit_primitive_cache() == "64"


def _another(trims: Trims, wait_s: float) -> bool:
    trims.event.clear()
    return trims.event.wait(wait_s)
