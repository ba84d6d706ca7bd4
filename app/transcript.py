"""What a speech model returns, and the port the streaming core calls it through.

Times are integer sample offsets at 16 kHz relative to the start of the audio
that was transcribed; the session converts them to stream offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: tuple[WordTiming, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    processing_s: float = 0.0  # model time, for print_transcription_time and metrics


@dataclass(frozen=True, slots=True)
class TranscribeRequest:
    audio: Audio  # float32 mono 16 kHz, -1..1
    language: str = "en"
    initial_prompt: str | None = None
    word_timestamps: bool = True


class Transcriber(Protocol):
    """The port to a speech model. Implemented in-process by :mod:`app.engines`
    and, behind Ray Serve, by a handle to a batched model deployment."""

    async def transcribe(self, request: TranscribeRequest) -> Transcript: ...
