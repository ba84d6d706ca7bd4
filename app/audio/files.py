"""Whole-file decoding, for the file mode, tests and benchmarks (not the stream path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.audio.encoded import frame_to_mono
from app.audio.pcm import float_to_pcm16
from app.audio.resample import resample
from app.errors import UndecodableAudio
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
