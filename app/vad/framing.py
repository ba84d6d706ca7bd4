"""Cutting a stream of arbitrary-length chunks into fixed 512-sample frames.

512 samples (32 ms at 16 kHz) is the frame Silero VAD is trained on; every VAD
decision in :mod:`app.vad` is made per such frame. Offsets are absolute sample
offsets from the start of the stream, as everywhere in the core.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from app.transcript import Audio

FRAME_SAMPLES = 512
"""Samples per VAD frame (32 ms at 16 kHz)."""


def as_mono_float32(samples: Audio) -> Audio:
    """``samples`` as a 1-D float32 array (no copy when it already is one).

    Integer PCM is refused rather than silently read as floats 32768 times too loud.
    """
    arr = np.asarray(samples)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"expected float samples in -1..1, got dtype {arr.dtype}; convert PCM16 with / 32768")
    arr = arr.astype(np.float32, copy=False)
    if arr.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got an array of shape {arr.shape}")
    return arr


class FrameSplitter:
    """Yields whole frames from chunks of any length, carrying the remainder.

    The remainder lives in one preallocated frame-sized buffer, so a stream of
    small chunks costs one small copy per chunk, never a growing concatenation.
    Frames taken straight from a chunk are views into it: use them before the
    next :meth:`frames` call's iteration step and do not keep them.
    """

    def __init__(self, start_offset: int = 0, frame_samples: int = FRAME_SAMPLES) -> None:
        if start_offset < 0:
            raise ValueError(f"start_offset {start_offset} must not be negative")
        self.frame_samples = frame_samples
        self._carry = np.zeros(frame_samples, dtype=np.float32)
        self._fill = 0
        #: absolute offset of the start of the carried remainder (= end of the last whole frame)
        self._framed = start_offset

    @property
    def framed(self) -> int:
        """Absolute offset where the last whole frame ended."""
        return self._framed

    @property
    def offset(self) -> int:
        """Absolute offset of the end of all audio received (whole frames plus the carry)."""
        return self._framed + self._fill

    def carried(self) -> Audio:
        """The samples carried, waiting for the rest of their frame (a view: do not keep it)."""
        return self._carry[: self._fill]

    @property
    def pending(self) -> int:
        """Samples carried, waiting for the rest of their frame."""
        return self._fill

    def frames(self, samples: Audio) -> Iterator[tuple[int, Audio]]:
        """Each whole frame that ``samples`` completes, as ``(start offset, frame)``."""
        size = self.frame_samples
        n = len(samples)
        i = 0
        if self._fill:
            take = min(size - self._fill, n)
            self._carry[self._fill : self._fill + take] = samples[:take]
            self._fill += take
            i = take
            if self._fill < size:
                return
            self._fill = 0
            start = self._framed
            self._framed += size
            yield start, self._carry
        while i + size <= n:
            start = self._framed
            self._framed += size
            yield start, samples[i : i + size]
            i += size
        rest = n - i
        if rest:
            self._carry[:rest] = samples[i:]
            self._fill = rest

    def skip(self, samples: int) -> None:
        """Drop the carry and move the offset ``samples`` past the end of the audio received."""
        if samples < 0:
            raise ValueError(f"cannot skip {samples} samples")
        self._framed += self._fill + samples
        self._fill = 0
