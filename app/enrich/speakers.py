"""Labelled turns → the final's ``speakers`` and its words' ``speaker``.

``speakers`` describes the final's own utterance (as ``words`` do): ``count`` is the
number of speakers heard in it, each detail's ``segments`` are its stretches of
speech there (from its first word's start to its last word's end, in stream
seconds) and ``speaking_time`` their total. Labels are the session's, so a client
adds up speaking time per label across finals for session totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app import protocol as p
from app.enrich.diarization import Span, Turn, loud_span
from app.transcript import SAMPLE_RATE, Audio

#: a segment's ends move in to the first and last 20 ms frame within this of its loudest frame
SEGMENT_RANGE_DB = 30.0


@dataclass(frozen=True, slots=True)
class LabelledTurn:
    turn: Turn
    speaker: str


def word_turns(words: Sequence[Span], turns: Sequence[LabelledTurn]) -> list[int]:
    """The turn of each word: the one holding its middle, else the nearest."""

    def distance(mid: int, turn: Turn) -> int:
        return 0 if turn.start <= mid < turn.end else min(abs(mid - turn.start), abs(mid - turn.end))

    return [min(range(len(turns)), key=lambda k: distance((s + e) // 2, turns[k].turn)) for s, e in words]


def build(
    final: p.FinalResult,
    turns: Sequence[LabelledTurn],
    words: Sequence[Span],
    utterance_start_s: float,
    audio: Audio | None = None,
) -> p.FinalResult:
    """The final with ``speakers`` and each word's ``speaker`` filled in.

    ``words`` are the final's words as sample spans in ``audio``, the utterance's audio,
    whose first sample is at ``utterance_start_s`` in stream time. With ``audio``, each
    segment is narrowed to its loud part (:data:`SEGMENT_RANGE_DB`): Whisper's word times
    often reach into the silence around the words."""
    if not turns:
        return final
    of_word = word_turns(words, turns)
    runs: list[tuple[str, float, float]] = []  # consecutive turns of one speaker merged
    for k, lt in enumerate(turns):
        idx = [i for i, t in enumerate(of_word) if t == k]
        if idx:
            start, end = final.data.words[idx[0]].start, final.data.words[idx[-1]].end
        else:
            start = utterance_start_s + lt.turn.start / SAMPLE_RATE
            end = utterance_start_s + lt.turn.end / SAMPLE_RATE
        if runs and runs[-1][0] == lt.speaker:
            runs[-1] = (lt.speaker, runs[-1][1], max(runs[-1][2], end))
        else:
            runs.append((lt.speaker, start, end))
    if audio is not None:
        runs = [(speaker, *_loud(audio, start, end, utterance_start_s)) for speaker, start, end in runs]
    details: dict[str, p.SpeakerDetail] = {}
    for speaker, start, end in runs:
        segment = p.SpeakerSegment(start=round(start, 3), end=round(max(end, start), 3))
        detail = details.setdefault(speaker, p.SpeakerDetail(id=speaker, speaking_time=0.0, segments=[]))
        detail.segments.append(segment)
        detail.speaking_time = round(detail.speaking_time + segment.end - segment.start, 3)
    new_words = [
        w.model_copy(update={"speaker": turns[k].speaker}) for w, k in zip(final.data.words, of_word, strict=True)
    ]
    data = final.data.model_copy(
        update={"speakers": p.Speakers(count=len(details), details=list(details.values())), "words": new_words}
    )
    return final.model_copy(update={"data": data})


def _loud(audio: Audio, start: float, end: float, offset_s: float) -> tuple[float, float]:
    lo = max(0, round((start - offset_s) * SAMPLE_RATE))
    hi = min(len(audio), round((end - offset_s) * SAMPLE_RATE))
    if hi - lo < SAMPLE_RATE // 10:
        return start, end
    a, b = loud_span(audio[lo:hi], range_db=SEGMENT_RANGE_DB)
    return offset_s + (lo + a) / SAMPLE_RATE, offset_s + (lo + b) / SAMPLE_RATE
