"""Online speaker clustering for one session (pure numpy).

Each speaker is a centroid: the duration-weighted mean of the embeddings assigned
to it. A new segment joins the speaker it is most similar to, as long as the cosine
similarity clears a threshold; otherwise it opens a new speaker. Labels are
``speaker_1``, ``speaker_2`` … in order of appearance; a label is never given to
another speaker in a session.

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

**Second pass** (:meth:`OnlineClusterer.revise`, after each final): a turn is labelled the moment
its final goes out, from the turns before it; later turns make the centroids surer. Two speakers
whose centroids (each backed by ``long_s``) have become as alike as ``merge_threshold`` are one:
the later label's turns take the earlier one. A recent turn (the last ``history``) that is closer
to another speaker's centroid than to its own speaker's without it, by ``revise_margin``, and
clears that speaker's threshold, moves there. Each move is a :class:`Relabel` of the turn's key,
for the caller to tell the client (``speaker_revision``). The pass never invents a speaker.
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
#: how the caller names a turn it assigns: (the final's seq, the turn's index in it)
TurnKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ClusterParams:
    threshold_long: float = 0.72
    threshold_short: float = 0.55
    long_s: float = 2.0
    short_s: float = 0.5
    min_new_speaker_s: float = 0.5
    max_speakers: int = 20
    merge_threshold: float = 0.85
    revise_margin: float = 0.1
    history: int = 100

    def threshold(self, seconds: float) -> float:
        """The similarity a segment of ``seconds`` needs to join a speaker."""
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


@dataclass(frozen=True, slots=True)
class Relabel:
    key: TurnKey
    old: str
    new: str


@dataclass(slots=True)
class _Member:
    key: TurnKey
    embedding: Vector  # unit length
    seconds: float
    speaker: int


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
        self._alive: list[bool] = []  # False: merged into another speaker; its label is not used again
        self._history: deque[_Member] = deque(maxlen=self.params.history)  # what revise() reconsiders

    @property
    def labels(self) -> list[str]:
        return [label(i) for i in range(len(self._sums)) if self._alive[i]]

    def seconds(self, speaker: str) -> float:
        return self._seconds[index(speaker)]

    def centroid(self, speaker: str) -> Vector:
        return self._centroids[index(speaker)]

    def similarities(self, embedding: Vector) -> Vector:
        """Cosine similarity to each speaker's centroid (−2 for a speaker merged away)."""
        if not self._centroids:
            return np.zeros(0, np.float32)
        sims = np.stack(self._centroids) @ normalize(embedding)
        sims[~np.asarray(self._alive)] = -2.0
        return sims

    def peek(self, embedding: Vector, seconds: float) -> Match:
        """The speaker this segment would get, without learning from it."""
        sims = self.similarities(embedding)
        if not any(self._alive):
            return Match(label(len(self._sums)), float("nan"), True)
        p = self.params
        margins = [
            s - p.threshold(min(seconds, have)) if alive else -9.0
            for s, have, alive in zip(sims, self._longest, self._alive, strict=True)
        ]
        best = int(np.argmax(margins))
        full = sum(self._alive) >= p.max_speakers
        if margins[best] >= 0 or seconds < p.min_new_speaker_s or full:
            if margins[best] < 0:  # no speaker is close: take the most similar one
                best = int(np.argmax(sims))
            return Match(label(best), float(sims[best]), False)
        return Match(label(len(self._sums)), float("nan"), True)

    def assign(self, embedding: Vector, seconds: float, key: TurnKey | None = None) -> Match:
        """The speaker of a segment of ``seconds`` of speech; its centroid learns the segment. With
        ``key``, the segment is kept (the last ``history``) for :meth:`revise` to reconsider."""
        match = self.peek(embedding, seconds)
        self.learn(match.label, embedding, seconds)
        if key is not None:
            self._history.append(_Member(key, normalize(embedding), seconds, index(match.label)))
        return match

    def learn(self, speaker: str, embedding: Vector, seconds: float) -> None:
        i = index(speaker)
        weighted = normalize(embedding) * max(seconds, 1e-3)
        if i == len(self._sums):
            self._sums.append(weighted)
            self._seconds.append(seconds)
            self._longest.append(seconds)
            self._centroids.append(normalize(weighted))
            self._alive.append(True)
            return
        if i > len(self._sums) or not self._alive[i]:
            raise ValueError(f"{speaker} is not a speaker of this session, nor the next one")
        self._add(i, weighted, seconds)
        self._longest[i] = max(self._longest[i], seconds)

    def _add(self, i: int, weighted: Vector, seconds: float) -> None:
        self._sums[i] = self._sums[i] + weighted
        self._seconds[i] += seconds
        self._centroids[i] = normalize(self._sums[i])

    # ------------------------------------------------------------------ second pass

    def revise(self) -> list[Relabel]:
        """Merge speakers that proved to be one, then move recent turns that fit another speaker
        better; returns what changed, in the order of the turns (a turn at most once)."""
        moved: dict[TurnKey, Relabel] = {}

        def move(m: _Member, to: int) -> None:
            first = moved.get(m.key)
            old = first.old if first is not None else label(m.speaker)
            if label(to) == old:
                moved.pop(m.key, None)
            else:
                moved[m.key] = Relabel(m.key, old, label(to))
            m.speaker = to

        for keep, gone in self._merges():
            for m in self._history:
                if m.speaker == gone:
                    move(m, keep)
        p = self.params
        for m in list(self._history):
            i = m.speaker
            weighted = m.embedding * max(m.seconds, 1e-3)
            if self._seconds[i] - m.seconds < p.short_s:
                continue  # nothing else backs its speaker: no other view to compare with
            own = self._sums[i] - weighted  # its speaker without it
            own_sim = float(normalize(own) @ m.embedding)
            sims = self.similarities(m.embedding)
            sims[i] = -2.0
            k = int(np.argmax(sims))
            if sims[k] - own_sim < p.revise_margin or sims[k] < p.threshold(min(m.seconds, self._longest[k])):
                continue
            self._sums[i] = own
            self._seconds[i] -= m.seconds
            self._centroids[i] = normalize(own)
            self._add(k, weighted, m.seconds)
            move(m, k)
        order = {m.key: n for n, m in enumerate(self._history)}
        return sorted(moved.values(), key=lambda r: order.get(r.key, -1))

    def _merges(self) -> list[tuple[int, int]]:
        """Pairs of speakers (each backed by ``long_s``) whose centroids are ``merge_threshold`` alike,
        merged into the earlier label, the most alike first."""
        p = self.params
        done: list[tuple[int, int]] = []
        while True:
            alive = [i for i, a in enumerate(self._alive) if a and self._seconds[i] >= p.long_s]
            pairs = [
                (float(self._centroids[i] @ self._centroids[j]), i, j)
                for n, i in enumerate(alive)
                for j in alive[n + 1 :]
            ]
            if not pairs or max(pairs)[0] < p.merge_threshold:
                return done
            _, i, j = max(pairs)
            self._add(i, self._sums[j], self._seconds[j])
            self._longest[i] = max(self._longest[i], self._longest[j])
            self._alive[j] = False
            done.append((i, j))

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """The speakers (not the turn history), as JSON-able data: what a resumed session needs."""
        return {
            "sums": [base64.b64encode(s.astype("<f4").tobytes()).decode() for s in self._sums],
            "seconds": [round(s, 3) for s in self._seconds],
            "longest": [round(s, 3) for s in self._longest],
            "alive": list(self._alive),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """The speakers of :meth:`snapshot`; raises ValueError on data it cannot read."""
        try:
            sums = [np.frombuffer(base64.b64decode(s, validate=True), "<f4").astype(np.float32) for s in state["sums"]]
            seconds = [float(s) for s in state["seconds"]]
            longest = [float(s) for s in state["longest"]]
            alive = [bool(a) for a in state["alive"]]
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ValueError(f"unreadable speaker state: {type(exc).__name__}") from exc
        if any(len(s) == 0 for s in sums):
            raise ValueError("unreadable speaker state: an empty centroid")
        if not len(sums) == len(seconds) == len(longest) == len(alive) or len({len(s) for s in sums} - {0}) > 1:
            raise ValueError("unreadable speaker state: inconsistent lengths")
        self._sums, self._seconds, self._longest, self._alive = sums, seconds, longest, alive
        self._centroids = [normalize(s) for s in sums]
        self._history.clear()


def label(i: int) -> str:
    return f"speaker_{i + 1}"


def index(speaker: str) -> int:
    prefix, _, number = speaker.rpartition("_")
    if prefix != "speaker" or not number.isdigit() or int(number) < 1:
        raise ValueError(f"not a speaker label: {speaker!r}")
    return int(number) - 1
