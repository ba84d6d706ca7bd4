"""WebRTC VAD: the cheap first gate (a few microseconds a frame).

WebRTC's VAD takes 10, 20 or 30 ms of PCM16. Each 512-sample (32 ms) frame is
judged on its last 480 samples (30 ms) in one call: one call is ~3 µs, and the
2 ms left out are covered by the neighbouring frame's decision and by the
segmenter's tolerance for short gaps. The VAD smooths over time internally, so
every stream owns its instance.
"""

from __future__ import annotations

import numpy as np
import webrtcvad

from app.errors import ConfigError
from app.transcript import SAMPLE_RATE, Audio

WEBRTC_SAMPLES = SAMPLE_RATE * 30 // 1000
"""Samples WebRTC judges per frame (30 ms)."""


class WebRtcScorer:
    """Per-stream WebRTC VAD with aggressiveness 0 (lenient) to 3 (rejects the most non-speech)."""

    def __init__(self, aggressiveness: int) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ConfigError(f"webrtc sensitivity {aggressiveness} is out of range; use 0 to 3")
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)
        self._scaled = np.empty(WEBRTC_SAMPLES, dtype=np.float32)
        self._pcm = np.empty(WEBRTC_SAMPLES, dtype=np.int16)

    def is_speech(self, frame: Audio) -> bool:
        """Whether WebRTC hears speech in the last 30 ms of ``frame`` (float32, -1..1)."""
        if len(frame) < WEBRTC_SAMPLES:
            raise ValueError(f"frame has {len(frame)} samples; WebRTC needs at least {WEBRTC_SAMPLES}")
        np.multiply(frame[-WEBRTC_SAMPLES:], 32768.0, out=self._scaled)
        np.clip(self._scaled, -32768.0, 32767.0, out=self._scaled)
        self._pcm[:] = self._scaled
        return bool(self._vad.is_speech(self._pcm.tobytes(), SAMPLE_RATE))

    def reset(self) -> None:
        """Forget the stream so far (WebRTC keeps a short history)."""
        self._vad = webrtcvad.Vad(self.aggressiveness)
