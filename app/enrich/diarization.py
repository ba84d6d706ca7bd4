"""Speaker turns inside one utterance, from window embeddings (pure numpy).

Steps, for each final:

1. :func:`plan`: the speech region (the words' span, padded; the loud part when there
   are no word times), loudness-normalised, cut into windows of ``window_s`` every
   ``hop_s``; a region shorter than a window is one (zero-padded) window.
2. The Embedder embeds every window in one call.
3. :func:`split_turns`: binary segmentation. Where the mean embeddings of the windows
   before and after a point are least alike and below ``change_threshold``, with at
   least ``min_turn_s`` on each side, the utterance splits; each part is tried again.
   A split point moves to the nearest pause between words.
4. The session's clusterer labels each turn (:mod:`app.enrich.clustering`).

Positions here are samples into the utterance's audio.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.enrich.clustering import Vector, normalize
from app.transcript import SAMPLE_RATE, Audio

Span = tuple[int, int]

#: Resemblyzer's preprocessing: quiet speech is raised to -30 dBFS (never lowered)
TARGET_DBFS = -30.0
_REGION_PAD_S = 0.1
_MIN_REGION_S = 0.1


@dataclass(frozen=True, slots=True)
class WindowParams:
    window_s: float = 1.6
    hop_s: float = 0.8
    change_threshold: float = 0.60
    min_turn_s: float = 1.6


@dataclass(frozen=True, slots=True)
class Plan:
    region: Span  # the speech region, in the utterance's audio
    audio: Audio  # the region's samples, loudness-normalised
    windows: tuple[Span, ...]  # spans into ``audio``


@dataclass(frozen=True, slots=True)
class Turn:
    start: int  # samples into the utterance's audio
    end: int
    embedding: Vector

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


def plan(audio: Audio, words: Sequence[Span], params: WindowParams) -> Plan | None:
    """What to embed for one utterance; None when it holds too little speech."""
    region = speech_region(audio, words)
    if region[1] - region[0] < _MIN_REGION_S * SAMPLE_RATE:
        return None
    samples = normalize_loudness(audio[region[0] : region[1]])
    return Plan(region, samples, windows(len(samples), params))


def speech_region(audio: Audio, words: Sequence[Span]) -> Span:
    n = len(audio)
    if words:
        pad = int(_REGION_PAD_S * SAMPLE_RATE)
        start = max(0, min(w[0] for w in words) - pad)
        end = min(n, max(w[1] for w in words) + pad)
        if end > start:
            return start, end
    return loud_span(audio)


def loud_parts(audio: Audio, range_db: float, gap_s: float, frame_s: float = 0.02) -> list[Span]:
    """The stretches of frames within ``range_db`` of the loudest one, split where ``gap_s`` or more
    of quieter frames lie between them (the whole audio when it is shorter than a frame)."""
    frame = int(frame_s * SAMPLE_RATE)
    n = len(audio) // frame
    if n == 0:
        return [(0, len(audio))]
    energy = 10 * np.log10(np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1) + 1e-12)
    loud = np.flatnonzero(energy > energy.max() - range_db)
    breaks = np.flatnonzero(np.diff(loud) > max(1, round(gap_s / frame_s)))
    firsts = [int(loud[0]), *(int(loud[i + 1]) for i in breaks)]
    lasts = [*(int(loud[i]) for i in breaks), int(loud[-1])]
    return [(a * frame, (b + 1) * frame) for a, b in zip(firsts, lasts, strict=True)]


def loud_span(audio: Audio, frame_s: float = 0.02, range_db: float = 35.0) -> Span:
    """From the first to the last frame within ``range_db`` of the loudest one."""
    frame = int(frame_s * SAMPLE_RATE)
    n = len(audio) // frame
    if n == 0:
        return 0, len(audio)
    energy = 10 * np.log10(np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1) + 1e-12)
    loud = np.flatnonzero(energy > energy.max() - range_db)
    return int(loud[0]) * frame, (int(loud[-1]) + 1) * frame


def normalize_loudness(audio: Audio, target_dbfs: float = TARGET_DBFS) -> Audio:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    if rms <= 1e-6:
        return audio.astype(np.float32, copy=False)
    gain = float(10 ** ((target_dbfs - 20 * np.log10(rms)) / 20))
    scaled: Audio = (audio * max(gain, 1.0)).astype(np.float32)
    return scaled


def windows(n: int, params: WindowParams) -> tuple[Span, ...]:
    size = int(params.window_s * SAMPLE_RATE)
    hop = max(1, int(params.hop_s * SAMPLE_RATE))
    if n <= size:
        return ((0, n),)
    starts = list(range(0, n - size + 1, hop))
    if starts[-1] + size < n:
        starts.append(n - size)  # the last window ends with the speech
    return tuple((s, s + size) for s in starts)


def tail_window(n: int, params: WindowParams) -> Span:
    """The last window of a partial's audio (its speaker guess)."""
    return max(0, n - int(params.window_s * SAMPLE_RATE)), n


def split_turns(plan: Plan, embeddings: np.ndarray, words: Sequence[Span], params: WindowParams) -> list[Turn]:
    """The turns of one utterance (one when it is one speaker's); positions in the utterance's audio."""
    if len(embeddings) != len(plan.windows):
        raise ValueError(f"{len(embeddings)} embeddings for {len(plan.windows)} windows")
    offset = plan.region[0]
    gaps = _pauses([(s - offset, e - offset) for s, e in words])
    min_turn = int(params.min_turn_s * SAMPLE_RATE)
    parts: list[tuple[int, int, int, int]] = []  # (first window, last window + 1, start, end) in the region
    _split(plan.windows, embeddings, 0, len(plan.windows), 0, len(plan.audio), params, min_turn, gaps, parts)
    return [
        Turn(start + offset, end + offset, normalize(embeddings[lo:hi].mean(axis=0))) for lo, hi, start, end in parts
    ]


def _split(
    spans: Sequence[Span],
    emb: np.ndarray,
    lo: int,
    hi: int,
    start: int,
    end: int,
    params: WindowParams,
    min_turn: int,
    gaps: Sequence[int],
    out: list[tuple[int, int, int, int]],
) -> None:
    best: tuple[float, int, int] | None = None  # (similarity, k, boundary)
    for k in range(lo + 1, hi):
        boundary = (spans[k - 1][1] + spans[k][0]) // 2  # the middle of the two windows' overlap
        if boundary - start < min_turn or end - boundary < min_turn:
            continue
        sim = float(normalize(emb[lo:k].mean(axis=0)) @ normalize(emb[k:hi].mean(axis=0)))
        if best is None or sim < best[0]:
            best = (sim, k, boundary)
    if best is None or best[0] >= params.change_threshold:
        out.append((lo, hi, start, end))
        return
    _, k, boundary = best
    boundary = _snap(boundary, gaps, int(params.window_s * SAMPLE_RATE) // 2, start, end)
    _split(spans, emb, lo, k, start, boundary, params, min_turn, gaps, out)
    _split(spans, emb, k, hi, boundary, end, params, min_turn, gaps, out)


def _pauses(words: Sequence[Span]) -> list[int]:
    """The middles of the pauses between consecutive words."""
    ordered = sorted(words)
    return [(a[1] + b[0]) // 2 for a, b in itertools.pairwise(ordered) if b[0] >= a[1]]


def _snap(boundary: int, gaps: Sequence[int], reach: int, start: int, end: int) -> int:
    near = [g for g in gaps if abs(g - boundary) <= reach and start < g < end]
    return min(near, key=lambda g: abs(g - boundary)) if near else boundary
