"""Whole-file decoding: the file mode, tests and benchmarks, and uploads to the pre-recorded endpoints
(not the stream path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.audio.encoded import frame_to_mono
from app.audio.pcm import float_to_pcm16
from app.audio.resample import resample
from app.errors import AudioTooLong, UndecodableAudio
from app.transcript import SAMPLE_RATE, Audio


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Any file FFmpeg reads → float32 mono at ``sample_rate``, channels averaged as the
    stream path does."""
    import av

    chunks: list[Audio] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate)
            for frame in container.decode(stream):
                chunks.append(frame_to_mono(frame))
    except (av.error.FFmpegError, IndexError) as exc:
        raise UndecodableAudio(f"{Path(path).name}: not a readable audio file") from exc
    if not chunks:
        return np.zeros(0, np.float32)
    return resample(np.concatenate(chunks), rate, sample_rate)


def to_pcm16(audio: Audio) -> bytes:
    return float_to_pcm16(audio)


def decode_upload(data: bytes, *, max_seconds: float, sample_rate: int = SAMPLE_RATE) -> Audio:
    """An uploaded file's bytes (any container FFmpeg reads: wav, flac, mp3, ogg, m4a, webm …) →
    float32 mono at ``sample_rate``. Raises :class:`UndecodableAudio` for data that is no audio
    file and :class:`AudioTooLong` past ``max_seconds`` (decoding stops there)."""
    import io

    import av

    chunks: list[Audio] = []
    seconds = 0.0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            if rate <= 0:
                raise UndecodableAudio("the file's audio has no sample rate")
            for frame in container.decode(stream):
                mono = frame_to_mono(frame)
                seconds += len(mono) / rate
                if seconds > max_seconds:
                    raise AudioTooLong(f"the audio is longer than the limit of {max_seconds:g} seconds")
                chunks.append(mono)
    except (av.error.FFmpegError, ValueError) as exc:  # ValueError: PyAV's "invalid data" on some inputs
        raise UndecodableAudio("the file could not be decoded as audio (corrupt or unsupported format)") from exc
    if not chunks:
        raise UndecodableAudio("the file holds no audio samples")
    return resample(np.concatenate(chunks), rate, sample_rate)
