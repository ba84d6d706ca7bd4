"""Fakes of the enrichment model ports: a tone "speaker encoder" and a keyword analyzer."""

from __future__ import annotations

import asyncio

import numpy as np

from app.enrich.ports import AnalyzeReply, AnalyzeRequest, Embeddings, EmbedRequest, Polarity
from app.transcript import SAMPLE_RATE, Audio


def tone(hz: float, seconds: float, amplitude: float = 0.2) -> Audio:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


class ToneEmbedder:
    """A voice is a pitch: a window's embedding points at an angle set by its zero-crossing rate,
    so 200 Hz and 1000 Hz "speakers" score a cosine of 0.31 and one pitch scores 1."""

    def __init__(self, *, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.requests: list[EmbedRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def warm(self) -> None:
        pass

    async def embed(self, request: EmbedRequest) -> Embeddings:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("encoder exploded")
        rows = []
        for start, end in request.windows:
            x = request.audio[start:end]
            hz = float(np.mean(np.diff(np.signbit(x)) != 0)) * SAMPLE_RATE / 2 if len(x) > 1 else 0.0
            angle = min(hz / 1000.0, 1.0) * np.pi / 2
            rows.append([np.cos(angle), np.sin(angle), 0.0, 0.0])
        return np.asarray(rows, np.float32)


class KeywordAnalyzer:
    """Sentiment from "love"/"hate"; a topic's similarity is 0.8 when its name is in the text."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.requests: list[AnalyzeRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def warm(self) -> None:
        pass

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        self.requests.append(request)
        if self.fail:
            raise RuntimeError("analyzer exploded")
        readings = []
        for text in request.sentiment_texts:
            low = text.lower()
            if "love" in low:
                readings.append(Polarity("positive", 0.9, 0.1))
            elif "hate" in low:
                readings.append(Polarity("negative", 0.9, 0.1))
            else:
                readings.append(Polarity("neutral", 0.95, 0.95))
        sims = tuple(
            tuple(0.8 if q.name.lower() in t.lower() else 0.0 for q in request.topics) for t in request.topic_texts
        )
        return AnalyzeReply(tuple(readings), sims)


class LevelEmbedder:
    """A voice is a loudness: a window whose loudest 20 ms is above ``loud_dbfs`` points one way, any
    other window at a right angle. Real speech played at two levels is then two "speakers" that the
    real VAD hears as speech, and nothing else tells them apart."""

    def __init__(self, loud_dbfs: float = -14.0) -> None:
        self.loud_dbfs = loud_dbfs
        self.requests: list[EmbedRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def warm(self) -> None:
        pass

    async def embed(self, request: EmbedRequest) -> Embeddings:
        self.requests.append(request)
        frame = SAMPLE_RATE // 50
        rows = []
        for start, end in request.windows:
            x = request.audio[start:end]
            n = len(x) // frame
            peak = float(np.max(np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1))) if n else 0.0
            loud = 10 * np.log10(peak + 1e-12) > self.loud_dbfs
            rows.append([0.0, 1.0, 0.0, 0.0] if loud else [1.0, 0.0, 0.0, 0.0])
        return np.asarray(rows, np.float32)


def at_peak(audio: Audio, dbfs: float) -> Audio:
    """``audio`` scaled so that its loudest 20 ms frame is at ``dbfs``."""
    frame = SAMPLE_RATE // 50
    n = len(audio) // frame
    peak = float(np.max(np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)))
    return (audio * (10 ** (dbfs / 20) / np.sqrt(peak))).astype(np.float32)
