"""Speaker changes from sliding windows (``app.enrich.turns``) and the session's tracker that asks for
them (``app.enrich.tracker``), on synthetic embeddings and tone "voices" (no model)."""

from __future__ import annotations

import asyncio

import numpy as np

from app.enrich.clustering import normalize
from app.enrich.ports import Embeddings, EmbedRequest
from app.enrich.tracker import SpeakerTracker
from app.enrich.turns import ChangeDetector, ChangeParams, Window, quietest
from app.transcript import SAMPLE_RATE
from tests.fakes.enrichment import ToneEmbedder, tone

SR = SAMPLE_RATE
W = int(1.6 * SR)
HOP = int(0.4 * SR)


def voice(seed: int, dim: int = 32) -> np.ndarray:
    return normalize(np.random.default_rng(seed).normal(size=dim))


def windows_over(turns: list[tuple[int, int, np.ndarray]], start: int, end: int, noise: float = 0.1) -> list[Window]:
    """Windows of ``W`` every ``HOP`` over [start, end): each the duration-weighted mix of the voices in it."""
    rng = np.random.default_rng(7)
    out = []
    for e in range(start + W, end + 1, HOP):
        s = e - W
        mix = sum(max(0, min(e, b) - max(s, a)) * v for a, b, v in turns)
        out.append(Window(s, e, normalize(mix + rng.normal(0, noise / np.sqrt(len(mix)), len(mix)))))
    return out


def test_a_change_is_confirmed_once_enough_windows_follow_it() -> None:
    a, b = voice(1), voice(2)
    change = 4 * SR
    params = ChangeParams(threshold=0.6, confirm_s=2.0)
    det = ChangeDetector(params)
    det.reset(0)
    found = None
    for w in windows_over([(0, change, a), (change, 9 * SR, b)], 0, 9 * SR):
        found = det.add(w)
        if found is not None:
            confirmed_at = w.end
            break
    assert found is not None and abs(found - change) <= HOP
    assert confirmed_at - found >= params.confirm_s * SR  # whole windows after the point
    assert confirmed_at - change <= params.confirm_s * SR + 3 * HOP


def test_one_voice_never_changes() -> None:
    a = voice(3)
    det = ChangeDetector(ChangeParams(threshold=0.6))
    det.reset(0)
    assert all(det.add(w) is None for w in windows_over([(0, 20 * SR, a)], 0, 20 * SR, noise=0.3))


def test_a_turn_shorter_than_a_window_before_the_point_is_not_enough() -> None:
    a, b = voice(4), voice(5)
    det = ChangeDetector(ChangeParams(threshold=0.6))
    det.reset(0)
    # the first voice speaks 0.5 s only: no window holds more of it than of the second
    results = [det.add(w) for w in windows_over([(0, SR // 2, a), (SR // 2, 8 * SR, b)], 0, 8 * SR)]
    assert results == [None] * len(results)


def test_after_a_change_the_windows_after_it_start_the_next_turn() -> None:
    a, b = voice(6), voice(7)
    det = ChangeDetector(ChangeParams(threshold=0.6))
    det.reset(0)
    turns = [(0, 4 * SR, a), (4 * SR, 12 * SR, b), (12 * SR, 20 * SR, a)]
    changes = []
    for w in windows_over(turns, 0, 20 * SR):
        at = det.add(w)
        if at is not None:
            changes.append(at)
            det.reset(at)
            assert all(x.start >= at for x in det.windows) and det.windows  # kept, not started over
    assert len(changes) == 2
    assert abs(changes[0] - 4 * SR) <= HOP and abs(changes[1] - 12 * SR) <= HOP


def test_windows_from_before_the_turn_are_ignored() -> None:
    det = ChangeDetector(ChangeParams())
    det.reset(5 * SR)
    assert det.add(Window(4 * SR, 4 * SR + W, voice(1))) is None
    assert det.windows == []


def test_quietest_finds_the_pause_between_two_speakers() -> None:
    audio = np.concatenate([tone(200, 1.0), np.zeros(int(0.15 * SR), np.float32), tone(300, 1.0)])
    offset = 10 * SR
    gap_middle = offset + SR + int(0.075 * SR)
    at = quietest(audio, offset, offset + SR + int(0.25 * SR), int(0.3 * SR))
    assert abs(at - gap_middle) <= int(0.08 * SR)
    assert quietest(audio[:0], offset, offset + 5, 100) == offset + 5  # no audio: the estimate


async def test_the_tracker_ends_a_turn_where_the_tone_changes() -> None:
    """Two tone "voices" back to back: the tracker embeds the latest window every hop in the background
    and hands the session the change point, moved to the quiet 0.2 s between them."""
    audio = np.concatenate([tone(200, 4.0), np.zeros(int(0.2 * SR), np.float32), tone(1000, 4.0)])
    embedder = ToneEmbedder()
    tracker = SpeakerTracker(embedder, ChangeParams(threshold=0.6, confirm_s=2.0), timeout_s=lambda: 5.0)

    def read(start: int, end: int) -> np.ndarray:
        return audio[start:end]

    found = None
    for end in range(1600, len(audio) + 1, 1600):  # 100 ms chunks of one utterance from 0
        found = tracker.observe(1, 0, end, read)
        if found is not None:
            break
        await asyncio.sleep(0)  # the background embedding answers
    assert found is not None
    assert 4 * SR <= found <= 4 * SR + int(0.2 * SR)  # inside the pause
    assert tracker.windows_embedded >= embedder.calls >= 3
    # whole windows, each loudness-normalised on its own: one after another in the request's audio
    assert all(r.windows == tuple((k * W, (k + 1) * W) for k in range(len(r.windows))) for r in embedder.requests)
    # the session splits there: utterance 2 starts at the point, and the windows after it carry on
    assert tracker.observe(2, found, end + 1600, read) is None
    assert tracker.latest is not None and tracker.latest.start >= found


async def test_a_failing_model_costs_the_tracker_its_windows_only() -> None:
    tracker = SpeakerTracker(ToneEmbedder(fail=True), ChangeParams(), timeout_s=lambda: 5.0)
    audio = tone(200, 6.0)
    for end in range(1600, len(audio) + 1, 1600):
        assert tracker.observe(1, 0, end, lambda s, e: audio[s:e]) is None
        await asyncio.sleep(0)
    assert tracker.windows_embedded == 0 and tracker.latest is None


class WakingEmbedder(ToneEmbedder):
    """The tone embedder, whose first call waits until ``awake`` is set (a Diarizer starting)."""

    def __init__(self) -> None:
        super().__init__()
        self.awake = asyncio.Event()
        self.asked = 0

    async def embed(self, request: EmbedRequest) -> Embeddings:
        self.asked += 1
        await self.awake.wait()
        return await super().embed(request)


async def test_after_a_slow_answer_the_next_call_catches_up_on_every_window_due() -> None:
    audio = np.concatenate([tone(200, 4.0), tone(1000, 6.0)])
    embedder = WakingEmbedder()
    tracker = SpeakerTracker(embedder, ChangeParams(hop_s=0.2, threshold=0.6), timeout_s=lambda: 5.0)

    def read(start: int, end: int) -> np.ndarray:
        return audio[start:end]

    for end in range(1600, 8 * SR + 1, 1600):  # 8 s of audio while the first call waits
        assert tracker.observe(1, 0, end, read) is None
        await asyncio.sleep(0)
    assert embedder.asked == 1
    embedder.awake.set()
    await tracker.settle()
    assert tracker.observe(1, 0, 8 * SR + 1600, read) is None  # one call for every window due meanwhile
    await tracker.settle()
    assert len(embedder.requests[-1].windows) > 20
    found = tracker.observe(1, 0, 8 * SR + 3200, read)
    assert found is not None and abs(found - 4 * SR) <= int(0.3 * SR)
