"""A preallocated ring buffer of float32 samples addressed by absolute stream offsets."""

from __future__ import annotations

import numpy as np

from app.errors import BufferOverflow
from app.transcript import Audio


class RangeUnavailable(ValueError):
    """The requested samples were overwritten already or have not been written yet."""


class RingBuffer:
    """Holds the latest ``capacity`` samples of a stream.

    Offsets count samples from the start of the stream and never reset, so a reader
    can keep an offset across writes and learn reliably when its data is gone.

    The consumer calls :meth:`release` for samples it no longer needs. Released
    samples stay readable until overwritten (pre-roll uses them); unreleased ones
    are protected by the overflow policy: ``drop_oldest=True`` overwrites them anyway
    and counts them in :attr:`dropped_samples`; ``drop_oldest=False`` refuses the
    write with :class:`BufferOverflow` and keeps the buffer unchanged.
    """

    def __init__(self, capacity: int, *, drop_oldest: bool = True) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._buf = np.zeros(capacity, dtype=np.float32)
        self._end = 0
        self._released = 0
        self.drop_oldest = drop_oldest
        #: unreleased samples overwritten (or never stored) since the stream began
        self.dropped_samples = 0

    @property
    def capacity(self) -> int:
        return len(self._buf)

    @property
    def start_offset(self) -> int:
        """Offset of the oldest sample still held."""
        return max(0, self._end - self.capacity)

    @property
    def end_offset(self) -> int:
        """Offset one past the newest sample."""
        return self._end

    @property
    def released_offset(self) -> int:
        """Samples before this offset may be overwritten without counting as dropped."""
        return self._released

    @property
    def unreleased(self) -> int:
        """Samples written but not yet released."""
        return self._end - self._released

    def write(self, samples: Audio) -> int:
        """Appends ``samples``; returns how many unreleased samples this write dropped."""
        n = len(samples)
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
        new_end = self._end + n
        new_start = max(0, new_end - self.capacity)
        dropped = max(0, new_start - self._released)
        if dropped and not self.drop_oldest:
            raise BufferOverflow(
                f"audio buffer full: {self.unreleased} samples are still waiting to be processed "
                f"and the buffer holds {self.capacity}; send audio no faster than real time"
            )
        # a chunk longer than the buffer keeps only its tail
        tail = samples[-self.capacity :] if n > self.capacity else samples
        first = new_end - len(tail)
        pos = first % self.capacity
        split = min(len(tail), self.capacity - pos)
        self._buf[pos : pos + split] = tail[:split]
        self._buf[: len(tail) - split] = tail[split:]
        self._end = new_end
        self._released = max(self._released, new_start)
        self.dropped_samples += dropped
        return dropped

    def read(self, start: int, end: int) -> Audio:
        """A copy of samples ``[start, end)``; raises :class:`RangeUnavailable` if not all are held."""
        if start > end:
            raise ValueError(f"empty range: start {start} > end {end}")
        if start < self.start_offset:
            raise RangeUnavailable(f"samples {start}..{end} are gone: the buffer now starts at {self.start_offset}")
        if end > self._end:
            raise RangeUnavailable(f"samples {start}..{end} are not written yet: the buffer ends at {self._end}")
        pos = start % self.capacity
        split = min(end - start, self.capacity - pos)
        out = np.empty(end - start, dtype=np.float32)
        out[:split] = self._buf[pos : pos + split]
        out[split:] = self._buf[: end - start - split]
        return out

    def release(self, offset: int) -> None:
        """Marks samples before ``offset`` as no longer needed; the mark only moves forward."""
        if offset > self._end:
            raise ValueError(f"cannot release up to {offset}: only {self._end} samples were written")
        self._released = max(self._released, offset)
