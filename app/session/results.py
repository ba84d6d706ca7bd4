"""Builds wire results from model transcripts: the protocol edge of the core,
where sample offsets become seconds and ISO times."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from app import protocol as p
from app import transcript
from app.options import SessionOptions
from app.session.timeline import Timeline
from app.streaming.formatting import format_text
from app.streaming.numerals import digit_spans, to_digits
from app.transcript import WordTiming


def _probability(value: float | None) -> float | None:
    return None if value is None else round(min(1.0, max(0.0, value)), 4)


def numerals_in(words: Sequence[WordTiming], text: str) -> tuple[Sequence[WordTiming], str]:
    """Spelled-out numbers as digits, in the words (a number's words become one word spanning
    them, with their mean probability) and in the text."""
    if not words:
        return words, " ".join(to_digits(text.split()))
    spans = digit_spans([w.text for w in words])
    out = [
        WordTiming(
            text=span.text,
            start=words[span.first].start,
            end=words[span.last].end,
            probability=sum(w.probability for w in words[span.first : span.last + 1]) / (span.last - span.first + 1),
            joined=words[span.first].joined,
        )
        for span in spans
    ]
    return out, join_words(out)


def wire_words(words: Sequence[WordTiming], timeline: Timeline, *, stable_count: int | None = None) -> list[p.Word]:
    """Words with absolute offsets → wire words (seconds from stream start)."""
    return [
        p.Word(
            word=w.text,
            start=timeline.seconds(w.start),
            end=timeline.seconds(w.end),
            confidence=round(min(1.0, max(0.0, w.probability)), 4),
            stable=None if stable_count is None else i < stable_count,
        )
        for i, w in enumerate(words)
    ]


def shift(words: Sequence[WordTiming], offset: int) -> tuple[WordTiming, ...]:
    """Words timed from the start of a model call's audio → absolute sample offsets."""
    return tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in words)


def join_words(words: Sequence[WordTiming]) -> str:
    return transcript.join_words(words)


def mean_confidence(words: Sequence[WordTiming]) -> float:
    return round(sum(w.probability for w in words) / len(words), 4) if words else 0.0


def partial_result(
    session_id: str,
    utterance_id: int,
    *,
    stable: Sequence[WordTiming],
    tentative: Sequence[WordTiming],
    utterance_start: int,
    current: int,
    timeline: Timeline,
    options: SessionOptions,
    language: str | None = None,
    language_probability: float | None = None,
) -> p.PartialResult:
    words = [*stable, *tentative]
    return p.PartialResult(
        session_id=session_id,
        utterance_id=utterance_id,
        data=p.PartialData(
            text=format_text(join_words(words), options.formatting, final=False),
            stable_text=format_text(join_words(stable), options.formatting, final=False),
            confidence=mean_confidence(words),
            timestamp=timeline.wall_time(current),
            audio_start=timeline.seconds(utterance_start),
            audio_current=timeline.seconds(current),
            words=wire_words(words, timeline, stable_count=len(stable)),
            language=language,
            language_probability=_probability(language_probability),
        ),
    )


def final_result(
    session_id: str,
    utterance_id: int,
    seq: int,
    *,
    words: Sequence[WordTiming],
    text: str,
    start: int,
    end: int,
    timeline: Timeline,
    options: SessionOptions,
    transcription_time: float,
    language: str | None = None,
    language_probability: float | None = None,
) -> p.FinalResult:
    start_s, end_s = timeline.seconds(start), timeline.seconds(end)
    if options.formatting.numerals:
        words, text = numerals_in(words, text)
    return p.FinalResult(
        session_id=session_id,
        utterance_id=utterance_id,
        seq=seq,
        data=p.FinalData(
            text=format_text(text, options.formatting, final=True),
            confidence=mean_confidence(words),
            audio=p.AudioSpan(start=start_s, end=end_s, duration=round(end_s - start_s, 3)),
            timestamp=timeline.wall_time(start),
            words=wire_words(words, timeline),
            transcription_time=round(transcription_time, 3) if options.formatting.print_transcription_time else None,
            language=language,
            language_probability=_probability(language_probability),
        ),
    )
