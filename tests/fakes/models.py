"""Fakes for tests of the session core: a scripted transcriber and a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript, WordTiming

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
]


class ScriptedTranscriber:
    """One word per 0.25 s of audio, from a fixed list: deterministic, model-free."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.calls: list[int] = []

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        self.calls.append(len(request.audio))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("model exploded")
        step = SAMPLE_RATE // 4
        n = min(len(WORDS), len(request.audio) // step)
        words = tuple(WordTiming(WORDS[i], i * step, (i + 1) * step - 400, 0.9) for i in range(n))
        return Transcript(text=" ".join(w.text for w in words), words=words, avg_logprob=-0.1)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t - 1000.0)
