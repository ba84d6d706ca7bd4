"""A session's language: what each model call asks for, and what the finals detected.

* ``language: <code>``: every call decodes in that language.
* ``language: auto`` with ``language_detection: per_session``: each final asks the main model
  to detect the language of its own utterance until one utterance of at least
  :data:`MIN_DETECT_S` of audio is detected with probability at least
  :data:`MIN_DETECT_PROBABILITY`; that language then holds for the rest of the session.
* ``per_utterance``: every final detects again; partials follow the last final's language.

Partials come from the realtime model in the session's language (its last detected one, or
"detect" before the first). A realtime model that cannot decode it (tiny.en knows only
English) answers with an empty, ``language_supported=False`` transcript; from then on this
session's partials in that language come from the main model (``partial_fallback: main``)
or are skipped (``none``). Partials always transcribe in the spoken language, also when the
session translates: the finals carry the translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.languages import AUTO
from app.options import SessionOptions
from app.transcript import SAMPLE_RATE, Audio, TranscribeRequest, Transcript

#: an utterance must hold this much audio for its detected language to decide the session's
MIN_DETECT_S = 1.0
#: ... and the model must be at least this sure of it
MIN_DETECT_PROBABILITY = 0.5

Route = Literal["realtime", "main"]


@dataclass(frozen=True, slots=True)
class Detected:
    language: str
    probability: float | None  # None: the session's own language, not detected


class SessionLanguage:
    """The language state of one session (no I/O; the controller asks it before each call)."""

    def __init__(self, options: SessionOptions, fallback: Literal["main", "none"] = "main") -> None:
        self._fallback = fallback
        self._unsupported: set[str | None] = set()  # languages (None: detection) the realtime model lacks
        self._options = options
        self._locked: Detected | None = None
        self._last: Detected | None = None

    @property
    def options(self) -> SessionOptions:
        return self._options

    def configure(self, options: SessionOptions) -> None:
        """New session options: a changed language setting starts detection over."""
        old = self._options
        self._options = options
        if (old.language, old.language_detection) != (options.language, options.language_detection):
            self._locked = self._last = None

    @property
    def known(self) -> Detected | None:
        """The session's language as far as it is known: the fixed code, the locked one, the last detected."""
        if self._options.language != AUTO:
            return Detected(self._options.language, None)
        return self._locked or self._last

    # ------------------------------------------------------------------ requests

    def final_request(self, audio: Audio) -> TranscribeRequest:
        options = self._options
        if options.language != AUTO:
            language: str | None = options.language
        elif options.language_detection == "per_session" and self._locked is not None:
            language = self._locked.language
        else:
            language = None
        return TranscribeRequest(
            audio=audio,
            language=language,
            task=options.task,
            initial_prompt=options.initial_prompt,
            keyterms=tuple(options.keyterms),
        )

    def partial_route(self) -> Route | None:
        """Which model the next partial asks, or None: no partials in this language."""
        known = self.known
        if (known.language if known else None) not in self._unsupported:
            return "realtime"
        return "main" if self._fallback == "main" else None

    def partial_request(self, audio: Audio, route: Route, *, initial_prompt: str | None = None) -> TranscribeRequest:
        """The request for a partial of ``audio``; ``initial_prompt`` replaces the session's (the
        partial path prompts a tail with the words before it)."""
        known = self.known
        return TranscribeRequest(
            audio=audio,
            language=known.language if known else None,
            task="transcribe",
            initial_prompt=initial_prompt if initial_prompt is not None else self._options.initial_prompt,
            keyterms=tuple(self._options.keyterms),
            strict_language=route == "realtime",
        )

    # ------------------------------------------------------------------ results

    def partial_heard(self, request: TranscribeRequest, transcript: Transcript) -> bool:
        """False when the realtime model could not decode the request's language (drop the
        partial; the next one takes :meth:`partial_route`)."""
        if transcript.language_supported:
            return True
        self._unsupported.add(request.language)
        return False

    def final_heard(self, transcript: Transcript, samples: int) -> None:
        """Learn from a final of ``samples`` of audio: a detected language (one with a
        probability) becomes the session's last one, and its language once it is sure enough."""
        if transcript.language is None or transcript.language_probability is None or not transcript.text:
            return
        detected = Detected(transcript.language, transcript.language_probability)
        self._last = detected
        long_enough = samples >= MIN_DETECT_S * SAMPLE_RATE
        if (
            self._options.language == AUTO
            and self._options.language_detection == "per_session"
            and long_enough
            and detected.probability is not None
            and detected.probability >= MIN_DETECT_PROBABILITY
        ):
            self._locked = detected
