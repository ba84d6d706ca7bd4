"""What a soak lane does and when: its fixed-seed schedule of disturbances, and the record of each
session it ran.

A lane is one of the soak's concurrent streams. It streams the benchmark stream (:mod:`bench.corpus`),
looped, and between stretches of it does one event of :data:`KINDS` at a time: a reconnect
(``SttStream.reconnect()``, a resume with ``last_seq``), a bad frame or command that must be answered with
its stable code while the session goes on (:data:`BAD_FRAMES`), a pause (``pause_stream``, speech sent
meanwhile is discarded, ``resume_stream``), plain silence, or a restart (stop the session, start a new
one). The kinds come in shuffled rounds of :data:`ROUND`, so every kind comes once per round whatever
the seed; the gap before each event is drawn around ``every_s``.

Times in a record are *soak seconds* (from the soak's start, on the event loop's clock); stream times
(the server's ``audio_*`` and word times) are seconds of audio sent in the session. Audio second ``x``
of a session exists from ``t0 + x`` on, so a latency is ``arrival - (t0 + x)``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app import protocol as p
from app.transcript import SAMPLE_RATE
from tests.wer import normalize

#: a bad frame or command (the name says how it is made) and the code the server must answer it with
BAD_FRAMES: dict[str, str] = {
    "misaligned_pcm": "misaligned_audio",  # a PCM frame of an odd byte count (not whole samples)
    "oversized_frame": "frame_too_large",  # a PCM frame over limits.max_frame_bytes (8192)
    "text_on_audio_socket": "wrong_frame_type",  # a JSON text frame on a second audio socket joined to the session
    "unknown_option": "invalid_message",  # configure with an option that does not exist
    "resume_while_streaming": "invalid_state",  # resume_stream when not paused
}
KINDS = ("bad_frame", "reconnect", "pause", "silence", "restart")
#: one round of events: bad frames most often (they are cheap), one restart
ROUND = ("bad_frame", "bad_frame", "bad_frame", "reconnect", "reconnect", "pause", "silence", "restart")
PAUSE_S = (2.0, 6.0)
SILENCE_S = (3.0, 10.0)
#: words this close to the edge of a stretch of speech (a pause, a restart, silence) are not expected
EDGE_MARGIN_S = 0.3


@dataclass(frozen=True)
class Event:
    gap_s: float  # seconds of speech streamed before it (after the previous event)
    kind: str
    variant: str = ""  # bad_frame: a key of BAD_FRAMES
    duration_s: float = 0.0  # pause and silence


def schedule(seed: int, lane: int, every_s: float) -> Iterator[Event]:
    """The lane's endless, reproducible sequence of events."""
    rng = random.Random(seed * 1000 + lane)
    variants: list[str] = []
    while True:
        kinds = list(ROUND)
        rng.shuffle(kinds)
        for kind in kinds:
            gap = rng.uniform(0.5, 1.5) * every_s
            if kind == "bad_frame":
                if not variants:
                    variants = list(BAD_FRAMES)
                    rng.shuffle(variants)
                yield Event(gap, kind, variant=variants.pop())
            elif kind == "pause":
                yield Event(gap, kind, duration_s=rng.uniform(*PAUSE_S))
            elif kind == "silence":
                yield Event(gap, kind, duration_s=rng.uniform(*SILENCE_S))
            else:
                yield Event(gap, kind)


@dataclass(frozen=True)
class Span:
    """Audio sent: samples ``[start, end)`` of the session's stream; ``corpus``: the sample of the benchmark
    stream it starts at, ``None`` for audio nothing should come of (silence, or speech sent while paused)."""

    start: int
    end: int
    corpus: int | None

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end / SAMPLE_RATE

    @property
    def corpus_s(self) -> float | None:
        return None if self.corpus is None else self.corpus / SAMPLE_RATE


@dataclass(frozen=True)
class FinalSeen:
    at: float  # soak seconds
    seq: int
    text: str
    audio_start: float
    audio_end: float
    last_word_end: float | None


@dataclass
class SessionRun:
    """One server session of a lane: what was sent, done and received."""

    lane: int
    number: int  # the lane's n-th session
    session_id: str | None = None
    t0: float = 0.0  # soak seconds at stream time 0
    ended_at: float | None = None  # soak seconds of session_ended
    samples: int = 0  # stream time: samples of audio sent
    max_send_lag_s: float = 0.0
    spans: list[Span] = field(default_factory=list)
    #: normalised word -> {(start, end): first arrival}: every word a partial or final showed
    shown: dict[str, dict[tuple[float, float], float]] = field(default_factory=dict)
    finals: list[FinalSeen] = field(default_factory=list)
    partials: int = 0
    codes: list[tuple[float, str, str]] = field(default_factory=list)  # (at, "error"/"warning", code)
    injected: Counter[str] = field(default_factory=Counter)  # expected codes, one per bad frame sent
    events: Counter[str] = field(default_factory=Counter)  # events done, by kind (bad frames by variant)
    reconnect_s: list[float] = field(default_factory=list)
    client_errors: list[str] = field(default_factory=list)  # "code: message" of every call that failed
    ended: dict[str, Any] | None = None  # session_ended: reason, finals
    stored: dict[str, Any] | None = None  # the REST comparison (bench.soak_lane.compare_stored)

    @property
    def audio_s(self) -> float:
        return self.samples / SAMPLE_RATE

    def add_audio(self, samples: int, corpus: int | None) -> None:
        """Account ``samples`` of audio just sent (from sample ``corpus`` of the benchmark stream), merged with
        the previous span when it continues it."""
        start, end = self.samples, self.samples + samples
        last = self.spans[-1] if self.spans else None
        if last is not None and _continues(last, corpus):
            self.spans[-1] = Span(last.start, end, last.corpus)
        else:
            self.spans.append(Span(start, end, corpus))
        self.samples = end

    def on_message(self, at: float, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.PartialResult | p.FinalResult):
            for w in msg.data.words:
                for key in normalize(w.word).split():
                    self.shown.setdefault(key, {}).setdefault((round(w.start, 2), round(w.end, 2)), at)
            if isinstance(msg, p.PartialResult):
                self.partials += 1
            else:
                words = msg.data.words
                audio = msg.data.audio
                last = words[-1].end if words else None
                self.finals.append(FinalSeen(at, msg.seq, msg.data.text, audio.start, audio.end, last))
        elif isinstance(msg, p.Error):
            self.codes.append((at, "error", msg.code))
        elif isinstance(msg, p.Warning_):
            self.codes.append((at, "warning", msg.code))
        elif isinstance(msg, p.SessionEnded):
            self.ended_at = at
            self.ended = {"reason": msg.reason, "finals": msg.finals, "audio_duration": msg.audio_duration}

    def summary(self) -> dict[str, Any]:
        return {
            "lane": self.lane,
            "number": self.number,
            "session_id": self.session_id,
            "t0_s": round(self.t0, 3),
            "audio_s": round(self.audio_s, 3),
            "max_send_lag_s": round(self.max_send_lag_s, 3),
            "partials": self.partials,
            "finals_delivered": len(self.finals),
            "events": dict(self.events),
            "injected": dict(self.injected),
            "codes": dict(Counter(f"{kind}:{code}" for _, kind, code in self.codes)),
            "reconnect_s": [round(s, 3) for s in self.reconnect_s],
            "client_errors": self.client_errors,
            "ended": self.ended,
            "stored": self.stored,
        }


def _continues(last: Span, corpus: int | None) -> bool:
    if last.corpus is None or corpus is None:
        return last.corpus is None and corpus is None
    return last.corpus + (last.end - last.start) == corpus
