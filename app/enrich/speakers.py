"""Labelled turns → the final's ``speakers`` and its words' ``speaker`` (and again, with new labels,
for a ``speaker_revision``: :func:`turn_spans` once, :func:`apply` for each labelling).

``speakers`` describes the final's own utterance (as ``words`` do): ``count`` is the
number of speakers heard in it, each detail's ``segments`` are its stretches of
speech there (from its first word's start to its last word's end, in stream
seconds; with the audio, narrowed to the loud part and split at pauses of
:data:`SEGMENT_GAP_S` or more) and ``speaking_time`` their total. Labels are the session's, so a client
adds up speaking time per label across finals for session totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app import protocol as p
from app.enrich.diarization import Span, Turn, loud_parts
from app.transcript import SAMPLE_RATE, Audio

#: a segment's ends move in to the first and last 20 ms frame within this of its loudest frame
SEGMENT_RANGE_DB = 30.0
#: a pause this long (of frames quieter than that) splits a segment: NIST's rule for speaker segments
SEGMENT_GAP_S = 0.3


@dataclass(frozen=True, slots=True)
class LabelledTurn:
    turn: Turn
    speaker: str


def word_turns(words: Sequence[Span], turns: Sequence[LabelledTurn]) -> list[int]:
    """The turn of each word: the one holding its middle, else the nearest."""

    def distance(mid: int, turn: Turn) -> int:
        return 0 if turn.start <= mid < turn.end else min(abs(mid - turn.start), abs(mid - turn.end))

    return [min(range(len(turns)), key=lambda k: distance((s + e) // 2, turns[k].turn)) for s, e in words]


@dataclass(frozen=True, slots=True)
class TurnSpan:
    """A labelled turn's stretches of speech in stream seconds: what ``speakers`` is made of."""

    parts: tuple[tuple[float, float], ...]
    speaker: str


def turn_spans(
    final: p.FinalResult,
    turns: Sequence[LabelledTurn],
    words: Sequence[Span],
    utterance_start_s: float,
    audio: Audio | None = None,
) -> tuple[list[TurnSpan], list[int]]:
    """Each turn's stretch (its words' first start to last end; its own span when it has no word),
    narrowed to its loud parts with ``audio``, and the turn of each word."""
    of_word = word_turns(words, turns)
    out = []
    for k, lt in enumerate(turns):
        idx = [i for i, t in enumerate(of_word) if t == k]
        if idx:
            start, end = final.data.words[idx[0]].start, final.data.words[idx[-1]].end
        else:
            start = utterance_start_s + lt.turn.start / SAMPLE_RATE
            end = utterance_start_s + lt.turn.end / SAMPLE_RATE
        parts = _loud(audio, start, end, utterance_start_s) if audio is not None else [(start, max(start, end))]
        out.append(TurnSpan(tuple(parts), lt.speaker))
    return out, of_word


def apply(final: p.FinalResult, spans: Sequence[TurnSpan], of_word: Sequence[int]) -> p.FinalResult:
    """The final with ``speakers`` (consecutive turns of one speaker merged) and each word's ``speaker``."""
    if not spans:
        return final
    segments: list[tuple[str, float, float]] = []
    for span in spans:
        for start, end in span.parts:
            last = segments[-1] if segments else None
            if last is not None and last[0] == span.speaker and start - last[2] < SEGMENT_GAP_S:
                segments[-1] = (span.speaker, last[1], max(last[2], end))  # one stretch across two turns
            else:
                segments.append((span.speaker, start, end))
    details: dict[str, p.SpeakerDetail] = {}
    for speaker, start, end in segments:
        segment = p.SpeakerSegment(start=round(start, 3), end=round(max(end, start), 3))
        detail = details.setdefault(speaker, p.SpeakerDetail(id=speaker, speaking_time=0.0, segments=[]))
        detail.segments.append(segment)
        detail.speaking_time = round(detail.speaking_time + segment.end - segment.start, 3)
    new_words = [
        w.model_copy(update={"speaker": spans[k].speaker}) for w, k in zip(final.data.words, of_word, strict=True)
    ]
    data = final.data.model_copy(
        update={"speakers": p.Speakers(count=len(details), details=list(details.values())), "words": new_words}
    )
    return final.model_copy(update={"data": data})


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
    turn's stretch is narrowed to its loud parts (:data:`SEGMENT_RANGE_DB`, split at pauses of
    :data:`SEGMENT_GAP_S`): Whisper's word times often reach into the silence around the words."""
    if not turns:
        return final
    spans, of_word = turn_spans(final, turns, words, utterance_start_s, audio)
    return apply(final, spans, of_word)


def _loud(audio: Audio, start: float, end: float, offset_s: float) -> list[tuple[float, float]]:
    lo = max(0, round((start - offset_s) * SAMPLE_RATE))
    hi = min(len(audio), round((end - offset_s) * SAMPLE_RATE))
    if hi - lo < SAMPLE_RATE // 10:
        return [(start, max(start, end))]
    parts = loud_parts(audio[lo:hi], range_db=SEGMENT_RANGE_DB, gap_s=SEGMENT_GAP_S)
    return [(offset_s + (lo + a) / SAMPLE_RATE, offset_s + (lo + b) / SAMPLE_RATE) for a, b in parts]
