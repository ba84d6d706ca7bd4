"""Builds wire results from model transcripts: the protocol edge of the core,
where sample offsets become seconds and ISO times."""

from __future__ import annotations

from collections.abc import Sequence

from app import protocol as p
from app.options import SessionOptions
from app.session.timeline import Timeline
from app.streaming.formatting import format_text
from app.transcript import WordTiming


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
    return tuple(WordTiming(w.text, w.start + offset, w.end + offset, w.probability) for w in words)


def join_words(words: Sequence[WordTiming]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


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
) -> p.FinalResult:
    start_s, end_s = timeline.seconds(start), timeline.seconds(end)
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
        ),
    )
