"""Raw PCM16 little-endian bytes to float32 mono samples, and back; float samples made safe."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from app.errors import MisalignedAudio
from app.transcript import Audio

_PCM16_SCALE = 32768.0  # full scale of a signed 16-bit sample: -32768 maps to exactly -1.0


def pcm16_to_float(data: bytes | bytearray | memoryview, channels: int = 1) -> Audio:
    """Interleaved PCM16 LE ``data`` as float32 mono in [-1, 1]; channels are averaged.

    Raises :class:`MisalignedAudio` when ``data`` does not hold whole frames: a frame
    split across two messages would shift every later sample by a byte.
    """
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    frame_bytes = 2 * channels
    if len(data) % frame_bytes:
        what = "an odd byte count" if len(data) % 2 else f"not a whole number of {channels}-channel frames"
        raise MisalignedAudio(
            f"PCM16 audio frame of {len(data)} bytes has {what}; "
            f"send whole samples ({frame_bytes} bytes per sample frame for {channels} channel(s))"
        )
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32)
    samples /= _PCM16_SCALE
    if channels > 1:
        # the mean keeps the level of a centred voice and cannot clip
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return samples


def float_to_pcm16(samples: Audio) -> bytes:
    """float32 mono samples as PCM16 LE bytes; values outside [-1, 1] are clipped."""
    scaled = np.clip(samples, -1.0, 1.0) * 32767.0
    return np.round(scaled).astype("<i2").tobytes()


def clipped(samples: npt.NDArray[Any]) -> Audio:
    """Float samples (of a float WAV or a codec) as float32 within [-1, 1]: NaN becomes silence,
    infinities and overshoot are clipped. A float sample is one bit-flip away from NaN or ~1e38: let
    through, NaN made the VAD miss the utterance it was in (its final lost) and numpy warn on every
    frame, and ~1e38 overflowed the channel mix."""
    finite = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    out: Audio = np.clip(finite, -1.0, 1.0).astype(np.float32, copy=False)
    return out
