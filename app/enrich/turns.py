"""Speaker changes in a stream, from sliding window embeddings (pure numpy).

While an utterance is in progress, the session embeds its latest ``window_s`` of audio every
``hop_s`` of new audio (the Diarizer batches these windows across sessions). The
:class:`ChangeDetector` holds the windows of the current turn: those that start at or after the
turn's start (the utterance's start, or the last change). After each new window it looks for the
point ``p`` (a window's start) where

* the windows wholly before ``p`` (at least one: a turn of ``window_s`` or more) and
* the windows wholly after ``p``, spanning at least ``confirm_s``

are least alike; when their mean embeddings' cosine similarity is below ``threshold``, and a later
point scored worse (the similarity has passed its minimum: earlier points' right sides still hold
some of the voice before), the speaker changed at ``p``: the utterance ends there (reason
``speaker_change``) and the next turn starts with the windows after ``p``. A change is confirmed
``confirm_s`` and a hop after it happened, plus one model call. :func:`quietest` then moves the
point to the quietest 20 ms nearby: between two speakers there is usually a short pause.

Positions are absolute sample offsets of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.enrich.clustering import Vector, normalize
from app.transcript import SAMPLE_RATE, Audio


@dataclass(frozen=True, slots=True)
class ChangeParams:
    window_s: float = 1.6
    hop_s: float = 0.2
    threshold: float = 0.75
    confirm_s: float = 2.0
    snap_s: float = 0.3


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    embedding: Vector


class ChangeDetector:
    """The windows of one session's current turn. Not thread-safe (one session's tracker uses it)."""

    def __init__(self, params: ChangeParams) -> None:
        self.params = params
        self._turn_start = 0
        self._windows: list[Window] = []

    @property
    def windows(self) -> list[Window]:
        return list(self._windows)

    @property
    def turn_start(self) -> int:
        return self._turn_start

    def reset(self, turn_start: int) -> None:
        """A turn starts at ``turn_start``: windows that start before it are dropped (after a change,
        the windows wholly after the change point stay: they are the new turn's first)."""
        self._turn_start = turn_start
        self._windows = [w for w in self._windows if w.start >= turn_start]

    def add(self, window: Window) -> int | None:
        """A new window (later than the ones before); the change point it confirms, if any."""
        if window.start < self._turn_start:
            return None  # it reaches into the turn before (a call that was in flight at a change)
        if self._windows and window.end <= self._windows[-1].end:
            return None
        self._windows.append(window)
        best = self.best_split()
        if best is None or best[1] >= self.params.threshold or best[2]:
            return None
        return best[0]

    def best_split(self) -> tuple[int, float, bool] | None:
        """The candidate point with the least similar sides, that similarity, and whether it is the
        latest candidate: the sides of a later point may be less alike still (its right side holds
        less of the voice before), so a change is taken only once a later point scored worse."""
        ws = self._windows
        if len(ws) < 2:
            return None
        confirm = int(self.params.confirm_s * SAMPLE_RATE)
        last_end = ws[-1].end
        emb = np.stack([w.embedding for w in ws])
        sums = np.cumsum(emb, axis=0)
        ends = np.asarray([w.end for w in ws])
        best: tuple[int, float, bool] | None = None
        for k in range(1, len(ws)):
            p = ws[k].start
            if last_end - p < confirm:
                break  # later points have even less after them
            n_left = int(np.searchsorted(ends, p, side="right"))  # windows ending at or before p
            if n_left == 0:
                continue
            left = normalize(sums[n_left - 1])
            right = normalize(sums[-1] - sums[k - 1])
            sim = float(left @ right)
            if best is None or sim < best[1]:
                best = (p, sim, True)
            elif best[2]:
                best = (best[0], best[1], False)  # a later point scored worse: a minimum
        return best


def quietest(audio: Audio, offset: int, around: int, reach: int, frame: int = SAMPLE_RATE // 50) -> int:
    """The middle of the quietest ``frame`` within ``reach`` samples of ``around``, in ``audio`` whose
    first sample is at ``offset``; ``around`` when there is no audio there. Ties go to the nearest."""
    lo = max(around - reach, offset)
    hi = min(around + reach, offset + len(audio))
    n = (hi - lo) // frame
    if n < 1:
        return around
    x = audio[lo - offset : lo - offset + n * frame].reshape(n, frame)
    energy = np.mean(np.square(x, dtype=np.float64), axis=1)
    middles = lo + np.arange(n) * frame + frame // 2
    # the quietest frame, preferring (by a hair) the one nearest the estimate
    score = energy * (1 + 1e-3 * np.abs(middles - around) / max(reach, 1))
    return int(middles[int(np.argmin(score))])
