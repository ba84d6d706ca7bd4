"""Per-frame speech decisions for one stream: WebRTC as the gate, Silero as the confirmer.

Which scorers run depends on ``VadOptions``:

==========================  ===============================================================
webrtc and silero enabled   The default. WebRTC (~3 µs) gates: while it hears no speech,
                            Silero (~0.17 ms) does not run and the frame is silence. When
                            it does, Silero decides. Once Silero has confirmed speech it
                            decides every frame until ~1 s after its last speech frame
                            (:data:`HOLD_FRAMES`), as WebRTC at aggressiveness 3 drops
                            whole words of quiet or noisy speech. Skipped frames are
                            replayed into Silero when the gate reopens (see
                            :data:`app.vad.silero.WARMUP_FRAMES`), so its decisions match
                            an ungated run's. WebRTC alone passes steady noise and hum;
                            Silero rejects them. Silence costs ~0.4 ms CPU per second.
silero only                 Silero on every frame (~6 ms CPU per second of audio).
webrtc only                 WebRTC alone (cheapest; noise and hum count as speech).
both disabled               an energy gate: a frame whose RMS reaches -45 dBFS is speech.
                            A client that turns both models off still gets utterances in
                            quiet rooms instead of one endless utterance or an error.
==========================  ===============================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.options import VadOptions
from app.transcript import Audio
from app.vad.framing import FrameSplitter, as_mono_float32
from app.vad.silero import SileroScorer
from app.vad.webrtc import WebRtcScorer

ENERGY_FLOOR_DBFS = -45.0
"""Frame RMS (dB re full scale) counted as speech when both models are disabled."""

HOLD_FRAMES = 32
"""Once Silero confirms speech it runs on every frame until it has heard ~1 s (32 frames) without speech."""

WEAK_DB = 16.0
"""A speech frame this far below the stream's speech level (dB) is *weak*: a breath, a fading
consonant, the tail Silero still calls speech after a word. Weak frames keep an utterance going,
but its end is counted from the last confident frame before them (see the segmenter's hangover)."""

LEVEL_WEIGHT = 0.1
"""Weight of a confident speech frame in the running speech level."""

_ENERGY_FLOOR_SQUARED = 10.0 ** (ENERGY_FLOOR_DBFS / 10.0)


@dataclass(frozen=True, slots=True)
class FrameDecision:
    """The verdict on one 512-sample frame ``[start, end)`` (absolute sample offsets)."""

    start: int
    end: int
    is_speech: bool
    #: WebRTC's verdict, None when WebRTC is disabled
    webrtc: bool | None = None
    #: Silero's speech probability, None when Silero did not run on this frame
    probability: float | None = None
    #: speech by the onset rule (not only by the hysteresis that holds it): Silero's probability reached
    #: its threshold, or, without Silero, the frame is speech
    confident: bool = False


class VoiceDetector:
    """Frames one stream's audio and decides speech per frame. Not thread-safe: one per stream."""

    def __init__(self, vad: VadOptions, *, start_offset: int = 0) -> None:
        self._frames = FrameSplitter(start_offset)
        self._options = vad.model_copy(deep=True)
        self._webrtc = _webrtc(vad)
        self._silero = _silero(vad)
        self._last_speech = False
        self._hold = 0  # frames Silero keeps running whatever WebRTC says
        self._level_db: float | None = None  # running level of confident speech frames

    @property
    def options(self) -> VadOptions:
        return self._options

    @property
    def offset(self) -> int:
        """Absolute offset of the end of the audio received so far."""
        return self._frames.offset

    @property
    def decided(self) -> int:
        """Absolute offset of the end of the last frame decided (``offset`` minus the carried remainder)."""
        return self._frames.framed

    def reconfigure(self, vad: VadOptions) -> None:
        """Apply new options; a scorer whose options changed restarts, the framing and offsets carry on."""
        if vad.webrtc != self._options.webrtc:
            self._webrtc = _webrtc(vad)
        if vad.silero != self._options.silero:
            self._silero = _silero(vad)
        self._options = vad.model_copy(deep=True)

    def push(self, samples: Audio) -> list[FrameDecision]:
        """Decide every frame that ``samples`` (float32 mono 16 kHz, any length) completes."""
        chunk = as_mono_float32(samples)
        return [self._decide(start, frame) for start, frame in self._frames.frames(chunk)]

    def quiet_tail(self) -> int | None:
        """The end of the audio received when the samples carried past the last whole frame (less than
        a frame, not decided yet) are clearly quiet: weak by :data:`WEAK_DB`, or under the energy floor.
        Lets the segmenter count them as silence now instead of when the next chunk completes their
        frame (up to a chunk later)."""
        carried = self._frames.carried()
        if not len(carried):
            return None
        threshold = ENERGY_FLOOR_DBFS if self._level_db is None else self._level_db - WEAK_DB
        return self._frames.offset if _db(carried) < threshold else None

    def skip(self, samples: int) -> None:
        """Account for ``samples`` of audio lost after what was pushed (e.g. dropped on overflow).

        The carried remainder is dropped too, and the models restart, as the audio is no longer continuous.
        """
        self._frames.skip(samples)
        self.reset()

    def reset(self) -> None:
        """Restart the models' memory of the stream; offsets are kept."""
        if self._webrtc is not None:
            self._webrtc.reset()
        if self._silero is not None:
            self._silero.reset()
        self._last_speech = False
        self._hold = 0

    def _decide(self, start: int, frame: Audio) -> FrameDecision:
        end = start + len(frame)
        webrtc = self._webrtc.is_speech(frame) if self._webrtc is not None else None
        probability: float | None = None
        if self._silero is None:
            speech = confident = webrtc if webrtc is not None else _loud(frame)
        elif webrtc is False and not self._hold:
            self._silero.skip(frame)
            speech = confident = False
        else:
            probability = self._silero.probability(frame)
            speech = self._silero.is_speech(probability, self._last_speech)
            confident = self._silero.is_speech(probability, False) and self._loud_enough(frame)
            self._hold = HOLD_FRAMES if speech else max(0, self._hold - 1)
        self._last_speech = speech
        return FrameDecision(start, end, speech, webrtc, probability, confident)

    def _loud_enough(self, frame: Audio) -> bool:
        """Whether a speech frame is within :data:`WEAK_DB` of the speech level (and updates the level)."""
        db = _db(frame)
        if self._level_db is None:
            self._level_db = db
        if db < self._level_db - WEAK_DB:
            return False
        self._level_db += LEVEL_WEIGHT * (db - self._level_db)
        return True


def _webrtc(vad: VadOptions) -> WebRtcScorer | None:
    return WebRtcScorer(vad.webrtc.sensitivity) if vad.webrtc.enabled else None


def _silero(vad: VadOptions) -> SileroScorer | None:
    return SileroScorer(vad.silero) if vad.silero.enabled else None


def _db(samples: Audio) -> float:
    """Mean power in dB re full scale."""
    return 10.0 * math.log10(float(np.dot(samples, samples)) / len(samples) + 1e-12)


def _loud(frame: Audio) -> bool:
    energy = float(np.dot(frame, frame)) / len(frame)
    return math.isfinite(energy) and energy >= _ENERGY_FLOOR_SQUARED
