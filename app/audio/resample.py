"""Streaming resampling of float32 mono audio to the models' 16 kHz."""

from __future__ import annotations

import numpy as np
import soxr

from app.transcript import SAMPLE_RATE, Audio

_EMPTY: Audio = np.zeros(0, dtype=np.float32)


class StreamResampler:
    """Resamples a mono stream chunk by chunk.

    One filter state spans the whole stream, so chunk boundaries leave no clicks or
    gaps and the chunked output equals a one-shot resampling of the whole signal.
    The filter holds back a few milliseconds; :meth:`flush` releases them at the end.
    At ``in_rate == out_rate`` chunks pass through untouched.
    """

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, "float32", quality)
        self._flushed = False

    def feed(self, samples: Audio) -> Audio:
        """Resampled audio for the next chunk (may be shorter than its share at first)."""
        if self._flushed:
            raise ValueError("resampler already flushed; create a new one for a new stream")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
        if self._stream is None:
            return samples
        if not samples.size:
            return _EMPTY
        out: Audio = self._stream.resample_chunk(samples, last=False)
        return out

    def flush(self) -> Audio:
        """The samples the filter still holds; the stream ends here."""
        if self._flushed:
            return _EMPTY
        self._flushed = True
        if self._stream is None:
            return _EMPTY
        out: Audio = self._stream.resample_chunk(_EMPTY, last=True)
        return out


def resample(samples: Audio, in_rate: int, out_rate: int = SAMPLE_RATE) -> Audio:
    """One-shot resampling of a whole signal (files, tests)."""
    resampler = StreamResampler(in_rate, out_rate)
    out = [resampler.feed(samples), resampler.flush()]
    return np.concatenate(out)
