"""Audio frames from the client to 16 kHz mono float32, one decoder per stream.

``pcm_s16le`` frames are decoded on their own (each must hold whole samples), and so are
G.711 ``pcm_mulaw`` / ``pcm_alaw`` frames (one byte a sample);
``wav``, ``ogg`` and ``mp3`` are byte streams cut at arbitrary points, decoded
incrementally as the bytes arrive (see :mod:`app.audio.encoded` for their error rule).
"""

from __future__ import annotations

from typing import Protocol, assert_never

from app.audio.g711 import G711Decoder, Law
from app.audio.mp3 import Mp3Decoder
from app.audio.ogg import OggDecoder
from app.audio.pcm import pcm16_to_float
from app.audio.resample import StreamResampler
from app.audio.wav import WavDecoder
from app.config import Limits
from app.errors import FrameTooLarge
from app.options import AudioOptions
from app.transcript import Audio


class AudioDecoder(Protocol):
    def feed(self, data: bytes) -> Audio:
        """Audio decoded from this frame (possibly empty); raises an :class:`~app.errors.AudioError`."""
        ...

    def flush(self) -> Audio:
        """The audio still held back; call once when the stream ends."""
        ...


class PcmDecoder:
    """Raw PCM16 little-endian at the client's rate and channel count."""

    def __init__(self, sample_rate: int, channels: int, max_frame_bytes: int) -> None:
        self.channels = channels
        self.max_frame_bytes = max_frame_bytes
        self._resampler = StreamResampler(sample_rate)

    def feed(self, data: bytes) -> Audio:
        if len(data) > self.max_frame_bytes:
            raise FrameTooLarge(
                f"pcm_s16le audio frame of {len(data)} bytes exceeds the limit of "
                f"{self.max_frame_bytes} bytes; send smaller chunks (e.g. 100 ms)"
            )
        return self._resampler.feed(pcm16_to_float(data, self.channels))

    def flush(self) -> Audio:
        return self._resampler.flush()


def make_decoder(options: AudioOptions, limits: Limits) -> AudioDecoder:
    """A fresh decoder for one stream; the options' rate and channels apply to raw PCM only,
    the encoded formats carry their own in their headers."""
    encoding = options.encoding
    if encoding == "pcm_s16le":
        return PcmDecoder(options.sample_rate, options.channels, limits.max_frame_bytes)
    if encoding == "pcm_mulaw" or encoding == "pcm_alaw":
        law: Law = "mulaw" if encoding == "pcm_mulaw" else "alaw"
        return G711Decoder(law, options.sample_rate, options.channels, limits.max_frame_bytes)
    if encoding == "wav":
        return WavDecoder(limits.max_encoded_frame_bytes)
    if encoding == "ogg":
        return OggDecoder(limits.max_encoded_frame_bytes)
    if encoding == "mp3":
        return Mp3Decoder(limits.max_encoded_frame_bytes)
    assert_never(encoding)
