"""Bytes and time of the raw encodings, where a byte offset is a point in the stream's time.

A resume that re-sends audio (README "Resume") counts in bytes, as ``stop_stream.audio_bytes`` does;
only the raw encodings map bytes to time (a wav, ogg or mp3 stream's bytes are a container's).
"""

from __future__ import annotations

#: bytes of one sample of one channel, by raw encoding
SAMPLE_BYTES: dict[str, int] = {"pcm_s16le": 2, "pcm_mulaw": 1, "pcm_alaw": 1}


def frame_bytes(encoding: str, channels: int) -> int | None:
    """Bytes of one sample on every channel; None for an encoded format (wav, ogg, mp3)."""
    width = SAMPLE_BYTES.get(encoding)
    return None if width is None else width * channels


def bytes_per_second(encoding: str, sample_rate: int, channels: int) -> int | None:
    frame = frame_bytes(encoding, channels)
    return None if frame is None else frame * sample_rate


def bytes_at(seconds: float, encoding: str, sample_rate: int, channels: int) -> int | None:
    """The byte offset of a stream time, rounded down to a whole sample frame."""
    frame = frame_bytes(encoding, channels)
    if frame is None:
        return None
    return max(0, int(seconds * sample_rate + 1e-6)) * frame
