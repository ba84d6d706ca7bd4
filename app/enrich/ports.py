"""The ports the enrichers call: speaker embeddings and text analysis.

In the service they are handles to the batched Diarizer and Analyzer deployments
(``deployments/remote.py``); in the file mode and in tests they run the same engines
in-process (:mod:`app.engines.enrichment`) or are fakes. Requests and replies are plain
frozen dataclasses so they travel through Ray as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from app.transcript import Audio

Embeddings = npt.NDArray[np.float32]
SentimentLabel = Literal["positive", "negative", "neutral"]


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """Speaker embeddings of windows of one stretch of audio (16 kHz, loudness-normalised).

    ``windows`` are ``(start, end)`` sample spans into ``audio``; a span shorter than the
    model's window is zero-padded at its end, so every window is the same length."""

    audio: Audio
    windows: tuple[tuple[int, int], ...]


class Embedder(Protocol):
    async def embed(self, request: EmbedRequest) -> Embeddings:
        """One L2-normalised row per window, in order."""
        ...

    async def warm(self) -> None:
        """Returns once the model can answer (a deployment scaled to zero starts a replica)."""
        ...


@dataclass(frozen=True, slots=True)
class TopicQuery:
    name: str
    descriptions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    sentiment_texts: tuple[str, ...] = ()  # scored one by one; empty when sentiment is off
    topic_texts: tuple[str, ...] = ()  # compared with every topic; empty when topics are off
    topics: tuple[TopicQuery, ...] = ()


@dataclass(frozen=True, slots=True)
class Polarity:
    """A sentiment model's reading of one text: its label and its confidence in it (0 to 1).

    ``neutral`` is the confidence in the neutral reading, used when a polar label is
    below the session's ``min_confidence``."""

    label: SentimentLabel
    score: float
    neutral: float


@dataclass(frozen=True, slots=True)
class AnalyzeReply:
    sentiment: tuple[Polarity, ...] = ()
    # topic_similarity[i][j]: cosine similarity of topic_texts[i] to topics[j] (its best description)
    topic_similarity: tuple[tuple[float, ...], ...] = ()
    model_s: float = field(default=0.0, compare=False)


class Analyzer(Protocol):
    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply: ...

    async def warm(self) -> None:
        """Returns once the models can answer (a deployment scaled to zero starts a replica)."""
        ...
