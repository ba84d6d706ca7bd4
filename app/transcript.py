"""What a speech model returns, and the port the streaming core calls it through.

Times are integer sample offsets at 16 kHz relative to the start of the audio
that was transcribed; the session converts them to stream offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class WordTiming:
    text: str  # as the model wrote it, with its leading space stripped
    start: int  # samples from the start of the transcribed audio
    end: int
    probability: float
    #: written without a space before it: Chinese and Japanese words, as the model wrote them
    joined: bool = False


def join_words(words: Sequence[WordTiming]) -> str:
    """The words as one text: a space between words, except before a ``joined`` one."""
    out: list[str] = []
    for w in words:
        text = w.text.strip()
        if text:
            out.append(text if w.joined or not out else " " + text)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: tuple[WordTiming, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    processing_s: float = 0.0  # model time, for print_transcription_time and metrics
    language: str | None = None  # the language the text is in (as decoded); None when nothing was
    language_probability: float | None = None  # when the model detected the language itself
    #: False: the model cannot decode the requested language (an English-only model asked for
    #: another one, or to detect one) and the request was ``strict_language``: nothing was decoded
    language_supported: bool = True


@dataclass(frozen=True, slots=True)
class TranscribeRequest:
    audio: Audio  # float32 mono 16 kHz, -1..1
    language: str | None = "en"  # None: detect it from this audio
    initial_prompt: str | None = None
    word_timestamps: bool = True
    task: Literal["transcribe", "translate"] = "transcribe"  # translate: Whisper's speech to English text
    keyterms: tuple[str, ...] = ()  # words the caller expects (names, products): a decoder prompt
    #: True: a model that cannot decode ``language`` returns an empty, ``language_supported=False``
    #: transcript instead of writing its own language (partials use it; finals never)
    strict_language: bool = False


class Transcriber(Protocol):
    """The port to a speech model. Implemented in-process by :mod:`app.engines`
    and, behind Ray Serve, by a handle to a batched model deployment."""

    async def transcribe(self, request: TranscribeRequest) -> Transcript: ...
