"""Cutting PCM into frames and chunks, pacing chunks like a microphone, decoding files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

from app.protocol import AudioFormat

BYTES_PER_SAMPLE = 2  # PCM16


def split_frames(data: bytes, max_bytes: int) -> Iterator[bytes]:
    """``data`` in pieces of at most ``max_bytes`` (a multiple of 4 keeps PCM16 samples whole)."""
    view = memoryview(data)
    for i in range(0, len(view), max_bytes):
        yield bytes(view[i : i + max_bytes])


def chunk_bytes(fmt: AudioFormat, chunk_ms: float) -> int:
    """Bytes in ``chunk_ms`` of PCM16 audio of this format (whole samples on every channel)."""
    if chunk_ms <= 0:
        raise ValueError(f"chunk_ms {chunk_ms} must be positive")
    samples = max(1, round(fmt.sample_rate * chunk_ms / 1000.0))
    return samples * BYTES_PER_SAMPLE * fmt.channels


async def paced(chunks: Iterable[bytes], interval_s: float, *, burst: int = 0) -> AsyncIterator[bytes]:
    """Yield chunk ``i`` at ``start + (i + 1 - burst) * interval_s``, when a microphone would have it.

    The first ``burst`` chunks go at once (a token bucket that starts full). Deadlines come from the
    start, not from the previous send, so slow sends do not add up to drift; a late chunk goes at once
    and the next ones catch up.
    """
    if burst < 0:
        raise ValueError(f"burst {burst} must not be negative")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, chunk in enumerate(chunks):
        delay = start + (i + 1 - burst) * interval_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield chunk


def file_pcm(path: str | Path, fmt: AudioFormat) -> bytes:
    """Decode any file FFmpeg reads into PCM16 of the session's format (blocking; run it in a thread)."""
    import numpy as np

    from app.audio.files import load_audio, to_pcm16

    if fmt.encoding != "pcm_s16le":
        raise ValueError(
            f"send_file sends raw PCM16, but this session expects {fmt.encoding!r}: "
            "send the file's bytes with send_audio, or start the session with pcm_s16le"
        )
    audio = load_audio(path, sample_rate=fmt.sample_rate)
    if fmt.channels == 2:
        audio = np.repeat(audio, 2)  # interleaved L R L R …
    return to_pcm16(audio)
