"""How ``stt stream`` shows results: text for people, or one JSON object a line for programs.

Text on a terminal rewrites the partial line in place (cut to the terminal's width, so it never
wraps: a wrapped line cannot be rewritten with ``\\r``) and gives each final its own line with its
times, speaker(s), sentiment, topics and wake-word flag. Piped, every partial is a line of its own.
Results go to ``out``; what is about the session (its id, warnings, the summary) goes to ``err``,
so ``stt stream a.wav > a.txt`` keeps a clean transcript.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from typing import TextIO

from app import protocol as p

_CLEAR = "\r\033[K"
_DIM, _BOLD, _RESET = "\033[2m", "\033[1m", "\033[0m"
_SPEAKER_COLOURS = ("\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m")


def speaker_label(data: p.FinalData) -> str:
    """The final's speakers in order of first speech, ``A+B`` when several spoke."""
    if data.speakers is None or not data.speakers.details:
        return ""
    ordered = sorted(data.speakers.details, key=lambda d: min((s.start for s in d.segments), default=0.0))
    return "+".join(d.id for d in ordered)


def chips(data: p.FinalData) -> list[str]:
    """The final's enrichment, each as a short ``[…]`` tag."""
    out = []
    sentiment = data.analysis.sentiment
    if sentiment is not None:
        out.append(f"[{sentiment.overall.label} {sentiment.overall.score:.2f}]")
    if data.analysis.topics:
        out.append("[topics: " + ", ".join(t.topic for t in data.analysis.topics) + "]")
    if data.filters.profanity.detected:
        out.append("[profanity filtered]")
    if data.wake_word_detected:
        out.append("[wake word]")
    if data.transcription_time is not None:
        out.append(f"[{data.transcription_time:.2f}s]")
    if data.language_probability is not None:  # detected on this utterance (language auto)
        out.append(f"[{data.language} {data.language_probability:.2f}]")
    return out


class TextRenderer:
    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        partials: bool = True,
        tty: bool | None = None,
        colour: bool | None = None,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.out = out
        self.err = err
        self.partials = partials
        self.tty = out.isatty() if tty is None else tty
        self.colour = self.tty if colour is None else colour
        self._width = width or (lambda: shutil.get_terminal_size((100, 24)).columns)
        self._partial_shown = False

    def __call__(self, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.PartialResult):
            if self.partials:
                self._partial(msg)
        elif isinstance(msg, p.FinalResult):
            self._final(msg)
        elif isinstance(msg, p.SessionStarted):
            resumed = " (resumed)" if msg.resumed else ""
            self._note(f"session {msg.session_id}{resumed}")
        elif isinstance(msg, p.Warning_ | p.Error):
            self._note(f"{msg.type} [{msg.code}]: {msg.message}")
        elif isinstance(msg, p.SessionEnded):
            self._note(f"session ended ({msg.reason}): {msg.finals} finals, {msg.audio_duration:.1f} s of audio")

    def close(self) -> None:
        """Leave the terminal on a fresh line."""
        self._clear_partial()
        self.out.flush()

    def _partial(self, msg: p.PartialResult) -> None:
        d = msg.data
        line = f"[partial {d.audio_start:6.2f}-{d.audio_current:6.2f}s] {d.text}"
        if not self.tty:
            self.out.write(line + "\n")
        else:
            room = max(20, self._width() - 1)
            if len(line) > room:
                line = "…" + line[-(room - 1) :]
            self.out.write(_CLEAR + self._paint(_DIM, line))
            self._partial_shown = True
        self.out.flush()

    def _final(self, msg: p.FinalResult) -> None:
        self._clear_partial()
        d = msg.data
        parts = [f"[final   {d.audio.start:6.2f}-{d.audio.end:6.2f}s]"]
        if speaker := speaker_label(d):
            parts.append(self._paint(_speaker_colour(speaker), f"{speaker}:"))
        parts.append(self._paint(_BOLD, d.text))
        parts += chips(d)
        self.out.write(" ".join(parts) + "\n")
        self.out.flush()

    def _note(self, text: str) -> None:
        self._clear_partial()
        self.err.write(f"stt: {text}\n")
        self.err.flush()

    def _clear_partial(self) -> None:
        if self._partial_shown:
            self.out.write(_CLEAR)
            self._partial_shown = False

    def _paint(self, style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if self.colour else text


def _speaker_colour(speaker: str) -> str:
    # stable across runs (hash() of a str is salted per process)
    return _SPEAKER_COLOURS[zlib.crc32(speaker.encode()) % len(_SPEAKER_COLOURS)]


class JsonRenderer:
    """Every server message as one JSON line (partials too, unless they are turned off)."""

    def __init__(self, out: TextIO, *, partials: bool = True) -> None:
        self.out = out
        self.partials = partials

    def __call__(self, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.PartialResult) and not self.partials:
            return
        self.out.write(msg.model_dump_json() + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()
