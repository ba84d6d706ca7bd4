"""The partial scheduler shared by every session: most overdue first, one running per session,
superseded requests answered without a call, one interval for everyone that stretches with load."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.streaming.scheduler import PartialRequest, PartialScheduler
from app.transcript import TranscribeRequest, Transcript


def req(key: str, tag: float, waited_s: float = 0.0) -> PartialRequest:
    # the request's audio carries a tag the fake model reads back
    return PartialRequest(key, TranscribeRequest(audio=np.full(1600, tag, np.float32)), waited_s)


class GatedModel:
    """Runs a batch only when the test opens the gate; records what ran, in order."""

    def __init__(self) -> None:
        self.ran: list[float] = []
        self.gate = asyncio.Event()
        self.running = 0
        self.most_running = 0

    async def __call__(self, requests: list[TranscribeRequest]) -> list[Transcript]:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        self.ran += [float(r.audio[0]) for r in requests]
        return [Transcript(text=f"t{float(r.audio[0]):g}") for r in requests]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_newer_request_supersedes_the_queued_one() -> None:
    model = GatedModel()
    scheduler = PartialScheduler(model, slots=1)
    first = asyncio.create_task(scheduler.submit(req("a", 1)))
    await settle()  # a:1 is running
    stale = asyncio.create_task(scheduler.submit(req("b", 2)))
    await settle()
    newer = asyncio.create_task(scheduler.submit(req("b", 3)))
    await settle()
    superseded = await stale  # answered at once, without a model call
    assert superseded.transcript is None and scheduler.superseded == 1
    model.gate.set()
    assert (await first).transcript == Transcript(text="t1")
    assert (await newer).transcript == Transcript(text="t3")
    assert model.ran == [1, 3]


async def test_the_most_overdue_session_goes_first() -> None:
    model = GatedModel()
    scheduler = PartialScheduler(model, slots=1)
    tasks = [asyncio.create_task(scheduler.submit(req("busy", 0)))]
    await settle()
    for key, tag, waited in (("x", 1, 0.1), ("y", 2, 0.9), ("z", 3, 0.5)):
        tasks.append(asyncio.create_task(scheduler.submit(req(key, tag, waited))))
        await settle()
    model.gate.set()
    await asyncio.gather(*tasks)
    assert model.ran == [0, 2, 3, 1]


async def test_one_request_of_a_session_runs_at_a_time() -> None:
    model = GatedModel()
    scheduler = PartialScheduler(model, slots=2)
    running = asyncio.create_task(scheduler.submit(req("a", 1)))
    await settle()
    waiting = asyncio.create_task(scheduler.submit(req("a", 2)))
    other = asyncio.create_task(scheduler.submit(req("b", 3)))
    await settle()
    assert model.running == 2  # a:1 and b:3; a:2 waits for a:1 although a slot is free
    model.gate.set()
    await asyncio.gather(running, waiting, other)
    assert model.ran.index(2) > model.ran.index(1)


async def test_the_interval_stretches_with_the_sessions_asking() -> None:
    now = [0.0]

    async def model(requests: list[TranscribeRequest]) -> list[Transcript]:
        now[0] += 0.1  # each call takes 0.1 s
        return [Transcript(text="") for _ in requests]

    scheduler = PartialScheduler(model, slots=2, min_interval_s=0.1, max_interval_s=1.0, clock=lambda: now[0])
    alone = await scheduler.submit(req("s0", 0))
    assert alone.interval_s == pytest.approx(0.1)  # one session: as often as the floor allows
    replies = [await scheduler.submit(req(f"s{i}", i)) for i in range(8)]
    # 8 sessions × 0.1 s a call on 2 slots at 80 %: every session every 0.5 s
    assert replies[-1].interval_s == pytest.approx(0.5)
    for i in range(16):
        await scheduler.submit(req(f"t{i}", i))
    assert scheduler.interval_s() == 1.0  # capped


async def test_a_failed_call_fails_its_requests_and_frees_the_slot() -> None:
    calls = 0

    async def model(requests: list[TranscribeRequest]) -> list[Transcript]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model exploded")
        return [Transcript(text="ok") for _ in requests]

    scheduler = PartialScheduler(model, slots=1)
    with pytest.raises(RuntimeError):
        await scheduler.submit(req("a", 1))
    assert (await scheduler.submit(req("a", 2))).transcript == Transcript(text="ok")
