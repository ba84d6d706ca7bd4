"""What every fuzz test asserts, whatever the input: failures are stable codes with bounded messages,
decoded audio is sound, and a stream's finals survive the garbage that follows them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from app.audio import AudioDecoder
from app.errors import (
    AudioError,
    FrameTooLarge,
    InternalError,
    MisalignedAudio,
    SttError,
    UndecodableAudio,
    wire_errors,
)

#: every code the service may send (the classes of app/errors.py)
WIRE_CODES = frozenset(c.code for c in wire_errors())
#: what bad audio may be answered with
AUDIO_CODES = frozenset({FrameTooLarge.code, MisalignedAudio.code, UndecodableAudio.code})
#: an error message is at most this long, whatever the input (messages quote at most 60 characters of it)
MAX_MESSAGE_CHARS = 1000
#: decoders clip to [-1, 1]; resampling (e.g. 8 kHz mp3 to 16 kHz) then rings past full scale on full-scale
#: noise (peaks of 2.07 seen), which is harmless: finite audio a few times full scale at most
MAX_AMPLITUDE = 4.0


def check_message(code: str, message: str, allowed: frozenset[str] = WIRE_CODES) -> None:
    assert code in allowed, f"code {code!r} not in {sorted(allowed)}: {message[:200]!r}"
    assert code != InternalError.code, f"internal_error: {message[:200]!r}"
    assert len(message) <= MAX_MESSAGE_CHARS, f"{code} message of {len(message)} characters: {message[:200]!r}…"
    assert "Traceback" not in message and "Error(" not in message, message[:200]


def check_error(exc: SttError, allowed: frozenset[str] = WIRE_CODES) -> None:
    check_message(exc.code, exc.message, allowed)


def check_wire(msg: dict[str, Any]) -> None:
    """A server message: an ``error`` or ``warning`` must carry a known code and a bounded message."""
    if msg["type"] in ("error", "warning"):
        check_message(msg["code"], msg["message"], WIRE_CODES | {"falling_behind", "audio_missing", "storage_failed"})


def check_audio(samples: Any) -> None:
    assert isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1
    if len(samples):
        assert np.isfinite(samples).all(), "decoded audio holds NaN or infinity"
        peak = float(np.abs(samples).max())
        assert peak <= MAX_AMPLITUDE, f"decoded audio peaks at {peak:g}"


def run_decoder(decoder: AudioDecoder, frames: list[bytes]) -> tuple[int, list[str]]:
    """Feeds every frame and flushes, checking each answer; returns the samples decoded and the codes raised."""
    samples, codes = 0, []
    for frame in [*frames, None]:
        try:
            out = decoder.feed(frame) if frame is not None else decoder.flush()
        except AudioError as exc:
            check_error(exc, AUDIO_CODES)
            codes.append(exc.code)
            continue
        check_audio(out)
        samples += len(out)
    return samples, codes


@contextmanager
def no_tracebacks_logged() -> Iterator[list[logging.LogRecord]]:
    """Fails if anything logs a traceback at WARNING or above while inside (a client must not cause one)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.levelno >= logging.WARNING:
                records.append(record)

    handler = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)
    assert not records, [f"{r.name}: {r.getMessage()}" for r in records]
