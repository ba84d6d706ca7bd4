"""G.711 telephony audio (ITU-T G.711: mu-law and A-law, one byte a sample) to float32.

Phone systems (Twilio, SIP trunks) send 8 kHz G.711; the Deepgram and AssemblyAI compatible
endpoints take it as ``mulaw``/``alaw`` and ``pcm_mulaw``. Each byte expands through a 256-entry
table built once from the standard's formulas, so decoding is one numpy ``take``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from app.audio.resample import StreamResampler
from app.errors import FrameTooLarge, MisalignedAudio
from app.transcript import Audio

Law = Literal["mulaw", "alaw"]

_PCM16_SCALE = 32768.0


def _mulaw_table() -> npt.NDArray[np.float32]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF  # bytes are sent inverted
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(sign, -magnitude, magnitude) / _PCM16_SCALE).astype(np.float32)


def _alaw_table() -> npt.NDArray[np.float32]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55  # even bits are sent inverted
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    # the sign bit set means positive in A-law
    return (np.where(sign, magnitude, -magnitude) / _PCM16_SCALE).astype(np.float32)


_TABLES: dict[Law, npt.NDArray[np.float32]] = {"mulaw": _mulaw_table(), "alaw": _alaw_table()}


def g711_to_float(data: bytes | bytearray | memoryview, law: Law, channels: int = 1) -> Audio:
    """Interleaved G.711 bytes as float32 mono in [-1, 1]; channels are averaged."""
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    if len(data) % channels:
        raise MisalignedAudio(
            f"{law} audio frame of {len(data)} bytes is not a whole number of {channels}-channel samples"
        )
    samples = _TABLES[law].take(np.frombuffer(data, dtype=np.uint8))
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return samples


class G711Decoder:
    """A stream of raw G.711 at the client's rate and channel count, to 16 kHz mono."""

    def __init__(self, law: Law, sample_rate: int, channels: int, max_frame_bytes: int) -> None:
        self.law: Law = law
        self.channels = channels
        self.max_frame_bytes = max_frame_bytes
        self._resampler = StreamResampler(sample_rate)

    def feed(self, data: bytes) -> Audio:
        if len(data) > self.max_frame_bytes:
            raise FrameTooLarge(
                f"{self.law} audio frame of {len(data)} bytes exceeds the limit of "
                f"{self.max_frame_bytes} bytes; send smaller chunks (e.g. 100 ms)"
            )
        return self._resampler.feed(g711_to_float(data, self.law, self.channels))

    def flush(self) -> Audio:
        return self._resampler.flush()
