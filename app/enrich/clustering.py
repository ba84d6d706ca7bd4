"""Online speaker clustering for one session (pure numpy).

Each speaker is a centroid: the duration-weighted mean of the embeddings assigned
to it. A new segment joins the speaker it is most similar to, as long as the cosine
similarity clears a threshold; otherwise it opens a new speaker. Labels are
``speaker_1``, ``speaker_2`` … in order of appearance and never change in a session.

The threshold depends on how much speech backs the comparison: an embedding of
0.3 s of speech is much noisier than one of 3 s (measured with Resemblyzer on the
shared clips: same-speaker pairs of ≥ 2 s scored ≥ 0.81 and different speakers
≤ 0.66; at 0.6 to 1.2 s, ≥ 0.62 against ≤ 0.60; under 0.6 s the two ranges overlap
around 0.5). So the threshold runs linearly from ``threshold_short`` at ``short_s``
of speech to ``threshold_long`` at ``long_s``, where the speech is the lesser of the
segment's and the speaker's longest segment (a centroid of many short segments is
no surer than one of them). The best speaker is the one whose similarity clears its
threshold by the widest margin. A segment shorter than ``min_new_speaker_s`` never
opens a speaker: it goes to the most similar one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ClusterParams:
    threshold_long: float = 0.72
    threshold_short: float = 0.55
    long_s: float = 2.0
    short_s: float = 0.5
    min_new_speaker_s: float = 0.5
    max_speakers: int = 20

    def threshold(self, seconds: float) -> float:
        if seconds <= self.short_s:
            return self.threshold_short
        if seconds >= self.long_s:
            return self.threshold_long
        frac = (seconds - self.short_s) / (self.long_s - self.short_s)
        return self.threshold_short + frac * (self.threshold_long - self.threshold_short)


@dataclass(frozen=True, slots=True)
class Match:
    label: str
    similarity: float  # to the chosen speaker's centroid before the update; nan for a new speaker
    new: bool


def normalize(v: npt.ArrayLike) -> Vector:
    x = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(x))
    return x / n if n > 0 else x


class OnlineClusterer:
    """The speakers of one session. Not thread-safe; one session's enrichers use it in turn."""

    def __init__(self, params: ClusterParams | None = None) -> None:
        self.params = params or ClusterParams()
        self._sums: list[Vector] = []  # duration-weighted sums of embeddings
        self._centroids: list[Vector] = []
        self._seconds: list[float] = []
        self._longest: list[float] = []  # the longest segment of each speaker: how well its centroid is known

    @property
    def labels(self) -> list[str]:
        return [label(i) for i in range(len(self._sums))]

    def seconds(self, speaker: str) -> float:
        return self._seconds[index(speaker)]

    def similarities(self, embedding: Vector) -> Vector:
        if not self._centroids:
            return np.zeros(0, np.float32)
        return np.stack(self._centroids) @ normalize(embedding)

    def peek(self, embedding: Vector, seconds: float) -> Match:
        """The speaker this segment would get, without learning from it."""
        sims = self.similarities(embedding)
        if not len(sims):
            return Match(label(0), float("nan"), True)
        p = self.params
        margins = [s - p.threshold(min(seconds, have)) for s, have in zip(sims, self._longest, strict=True)]
        best = int(np.argmax(margins))
        full = len(self._sums) >= p.max_speakers
        if margins[best] >= 0 or seconds < p.min_new_speaker_s or full:
            if margins[best] < 0:  # no speaker is close: take the most similar one
                best = int(np.argmax(sims))
            return Match(label(best), float(sims[best]), False)
        return Match(label(len(self._sums)), float("nan"), True)

    def assign(self, embedding: Vector, seconds: float) -> Match:
        """The speaker of a segment of ``seconds`` of speech; its centroid learns the segment."""
        match = self.peek(embedding, seconds)
        self.learn(match.label, embedding, seconds)
        return match

    def learn(self, speaker: str, embedding: Vector, seconds: float) -> None:
        i = index(speaker)
        weighted = normalize(embedding) * max(seconds, 1e-3)
        if i == len(self._sums):
            self._sums.append(weighted)
            self._seconds.append(seconds)
            self._longest.append(seconds)
            self._centroids.append(normalize(weighted))
            return
        if i > len(self._sums):
            raise ValueError(f"{speaker} is not the next speaker of this session")
        self._sums[i] = self._sums[i] + weighted
        self._seconds[i] += seconds
        self._longest[i] = max(self._longest[i], seconds)
        self._centroids[i] = normalize(self._sums[i])


def label(i: int) -> str:
    return f"speaker_{i + 1}"


def index(speaker: str) -> int:
    prefix, _, number = speaker.rpartition("_")
    if prefix != "speaker" or not number.isdigit() or int(number) < 1:
        raise ValueError(f"not a speaker label: {speaker!r}")
    return int(number) - 1
