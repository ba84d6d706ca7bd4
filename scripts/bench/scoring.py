"""Latencies, WER and the real-time verdict of one round (N sessions, each on its stream: the same
stream, or the same clips in another order, :meth:`bench.corpus.BenchStream.rotated`).

All latencies are pooled over the round's sessions and measured from audio time (seconds from the
start of the session's stream, see :mod:`bench.session` for the clock):

* word emission: a ground-truth word (:mod:`bench.corpus`) is *emitted* by the first partial or final
  that holds a word with the same normalised text whose ``[start, end]`` overlaps the ground-truth
  word's ``[start, end]`` widened by ``TOLERANCE_S``; latency = arrival - the ground-truth word's end.
  Words no message ever holds are counted as never shown; those a final shows first (no partial
  before it held them) are counted apart (``first_in_final``: how many, and their latency);
* first partial: per clip, from the clip's first ground-truth word start to the first partial holding
  a word inside the clip's speech (widened by ``TOLERANCE_S``);
* final: per non-empty final, from the end of its speech (the last ground-truth word inside its audio
  span; else its own last word; else its ``audio.end``) to its arrival. ``endpoint`` is the same for
  the utterance's ``utterance_end`` (end-of-speech detection), ``after_endpoint`` the gap between the two
  (main model and enrichment);
* WER: each session's finals joined in ``seq`` order against the stream's reference, pooled.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app import protocol as p
from bench.corpus import BenchStream, GroundTruth, TruthWord
from bench.session import BEHIND_CODES, SessionRecord
from tests.wer import normalize, pooled_wer

TOLERANCE_S = 0.5
#: the real-time rule (printed with the results)
RULE_LAST_FINAL_S = 3.0
RULE_WORD_P95_S = 2.0
REALTIME_RULE = (
    f"every session ends cleanly, its last final arrives within {RULE_LAST_FINAL_S:g} s after the end of the "
    f"stream's audio, the server sends no {'/'.join(sorted(BEHIND_CODES))} warning or error, "
    f"and word emission p95 < {RULE_WORD_P95_S:g} s"
)
SLOWEST = 8
GROWTH_PARTS = 3  # word emission median per third of the stream: does latency grow over the session?


def stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "p95": None, "mean": None, "max": None}
    arr = np.asarray(values, dtype=float)
    return {
        "n": len(values),
        "median": round(float(np.median(arr)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "mean": round(float(arr.mean()), 3),
        "max": round(float(arr.max()), 3),
    }


@dataclass
class RoundScore:
    sessions: int
    word_emission: dict[str, Any]
    words_total: int
    words_never_shown: int
    first_in_final: dict[str, Any]  # the words a final showed first (no partial before it): their latency
    never_shown: list[str]  # "word@end_s" of each word some session never showed, with how many sessions
    slowest_words: list[str]  # the words of the largest latencies, "word@end_s: latency"
    word_emission_by_part: list[float | None]
    first_partial: dict[str, Any]
    clips_without_partial: int
    final: dict[str, Any]
    endpoint: dict[str, Any]
    after_endpoint: dict[str, Any]
    wer: float | None
    last_final_after_end_s: float | None  # worst session; None when a session got no final
    behind_codes: list[str]
    server_codes: dict[str, int]  # every warning and error code the server sent, with counts
    errors: list[str]  # sessions that failed on the client side
    realtime: bool = False
    not_realtime_because: list[str] = field(default_factory=list)


#: what one session streamed: its stream and that stream's ground truth
Lane = tuple[BenchStream, GroundTruth]


def score_round(lanes: Sequence[Lane], records: list[SessionRecord]) -> RoundScore:
    """``lanes[i]`` is what ``records[i]`` streamed."""
    emitted: list[tuple[TruthWord, float]] = []
    by_final: list[float] = []
    never: Counter[str] = Counter()
    for (_, truth), record in zip(lanes, records, strict=True):
        shown = _shown_words(record)
        for word in truth.words:
            first = _first_emission(word, shown.get(word.key, ()))
            if first is None:
                never[f"{word.key}@{word.end_s:.2f}"] += 1
                continue
            at, final = first
            emitted.append((word, at - word.end_s))
            if final:
                by_final.append(at - word.end_s)
    slowest = sorted(emitted, key=lambda e: -e[1])[:SLOWEST]
    first, missing = _first_partials(lanes, records)
    final, endpoint, after = _final_latencies(lanes, records)
    finished = [(stream, r) for (stream, _), r in zip(lanes, records, strict=True) if r.error is None]
    wer = pooled_wer([(stream.reference, r.hypothesis()) for stream, r in finished]) if finished else None
    last = [max(t.at for t in r.finals) - s.duration_s for (s, _), r in zip(lanes, records, strict=True) if r.finals]
    duration_s = max((s.duration_s for s, _ in lanes), default=1.0)
    score = RoundScore(
        sessions=len(records),
        word_emission=stats([lat for _, lat in emitted]),
        words_total=sum(len(truth.words) for _, truth in lanes),
        words_never_shown=sum(never.values()),
        first_in_final=stats(by_final),
        never_shown=[f"{word} x{count}" for word, count in sorted(never.items())],
        slowest_words=[f"{w.key}@{w.end_s:.2f}: {lat:.2f}" for w, lat in slowest],
        word_emission_by_part=_by_part(emitted, duration_s),
        first_partial=stats(first),
        clips_without_partial=missing,
        final=stats(final),
        endpoint=stats(endpoint),
        after_endpoint=stats(after),
        wer=None if wer is None else round(wer, 4),
        last_final_after_end_s=round(max(last), 3) if len(last) == len(records) else None,
        behind_codes=sorted({c for r in records for c in r.codes() if c in BEHIND_CODES}),
        server_codes=dict(Counter(c for r in records for c in r.codes())),
        errors=[f"session {r.index}: {r.error}" for r in records if r.error],
    )
    score.not_realtime_because = _verdict(score, records)
    score.realtime = not score.not_realtime_because
    return score


def _verdict(score: RoundScore, records: list[SessionRecord]) -> list[str]:
    reasons = [f"session {r.index} failed: {r.error}" for r in records if r.error]
    reasons += [f"session {r.index} got no session_ended" for r in records if r.ended_at is None and not r.error]
    if score.last_final_after_end_s is None:
        reasons.append("a session got no final")
    elif score.last_final_after_end_s > RULE_LAST_FINAL_S:
        reasons.append(f"last final {score.last_final_after_end_s} s after the end of the audio")
    if score.behind_codes:
        reasons.append(f"server fell behind: {', '.join(score.behind_codes)}")
    p95 = score.word_emission["p95"]
    if p95 is None or p95 >= RULE_WORD_P95_S:
        reasons.append(f"word emission p95 {p95} s")
    return reasons


# ---------------------------------------------------------------------------- word emission

Shown = dict[str, list[tuple[float, float, float, bool]]]  # key -> (arrival, start, end, final), arrival order


def _shown_words(record: SessionRecord) -> Shown:
    shown: Shown = defaultdict(list)
    for timed in record.messages:
        if isinstance(timed.msg, p.PartialResult | p.FinalResult):
            final = isinstance(timed.msg, p.FinalResult)
            for w in timed.msg.data.words:
                for key in normalize(w.word).split():
                    shown[key].append((timed.at, w.start, w.end, final))
    return shown


def _first_emission(word: TruthWord, shown: Any) -> tuple[float, bool] | None:
    """(arrival, whether a final) of the first message that holds ``word``."""
    lo, hi = word.start_s - TOLERANCE_S, word.end_s + TOLERANCE_S
    for at, start, end, final in shown:
        if start <= hi and end >= lo:
            return float(at), final
    return None


def _by_part(emitted: list[tuple[TruthWord, float]], duration_s: float) -> list[float | None]:
    parts: list[list[float]] = [[] for _ in range(GROWTH_PARTS)]
    for word, latency in emitted:
        parts[min(GROWTH_PARTS - 1, int(word.end_s / duration_s * GROWTH_PARTS))].append(latency)
    return [round(float(np.median(part)), 3) if part else None for part in parts]


# ---------------------------------------------------------------------------- utterances


def _first_partials(lanes: Sequence[Lane], records: list[SessionRecord]) -> tuple[list[float], int]:
    latencies: list[float] = []
    missing = 0
    for (stream, truth), record in zip(lanes, records, strict=True):
        for clip in stream.clips:
            words = truth.words_of(clip.id)
            speech_start = words[0].start_s if words else clip.start_s
            speech_end = words[-1].end_s if words else clip.end_s
            lo, hi = speech_start - TOLERANCE_S, speech_end + TOLERANCE_S
            at = next(
                (
                    t.at
                    for t in record.partials
                    if isinstance(t.msg, p.PartialResult)
                    and any(lo <= (w.start + w.end) / 2 <= hi for w in t.msg.data.words)
                ),
                None,
            )
            if at is None:
                missing += 1
            else:
                latencies.append(at - speech_start)
    return latencies, missing


def _final_latencies(
    lanes: Sequence[Lane], records: list[SessionRecord]
) -> tuple[list[float], list[float], list[float]]:
    final: list[float] = []
    endpoint: list[float] = []
    after: list[float] = []
    for (_, truth), record in zip(lanes, records, strict=True):
        ends = {t.msg.utterance_id: t.at for t in record.messages if isinstance(t.msg, p.UtteranceEnd)}
        for timed in record.finals:
            msg = timed.msg
            if not isinstance(msg, p.FinalResult) or not msg.data.text.strip():
                continue
            speech_end = _speech_end(truth, msg)
            final.append(timed.at - speech_end)
            if (ended_at := ends.get(msg.utterance_id)) is not None:
                endpoint.append(ended_at - speech_end)
                after.append(timed.at - ended_at)
    return final, endpoint, after


def _speech_end(truth: GroundTruth, msg: p.FinalResult) -> float:
    span = msg.data.audio
    inside = [w.end_s for w in truth.words if span.start <= (w.start_s + w.end_s) / 2 <= span.end]
    if inside:
        return max(inside)
    if msg.data.words:
        return msg.data.words[-1].end
    return span.end
