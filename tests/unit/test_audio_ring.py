from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.audio import RangeUnavailable, RingBuffer
from app.errors import BufferOverflow


def _ramp(start: int, stop: int) -> npt.NDArray[np.float32]:
    """Samples whose value is their absolute offset, so reads are easy to check."""
    return np.arange(start, stop, dtype=np.float32)


def test_offsets_grow_from_zero() -> None:
    ring = RingBuffer(10)
    assert (ring.start_offset, ring.end_offset) == (0, 0)
    ring.write(_ramp(0, 4))
    assert (ring.start_offset, ring.end_offset, ring.unreleased) == (0, 4, 4)
    np.testing.assert_array_equal(ring.read(1, 3), [1, 2])


def test_wraparound_keeps_absolute_offsets() -> None:
    ring = RingBuffer(10)
    for start in range(0, 35, 7):
        ring.write(_ramp(start, start + 7))
        ring.release(start + 7)
    assert (ring.start_offset, ring.end_offset) == (25, 35)
    np.testing.assert_array_equal(ring.read(25, 35), _ramp(25, 35))
    np.testing.assert_array_equal(ring.read(28, 32), _ramp(28, 32))
    assert ring.read(30, 30).shape == (0,)


def test_read_returns_a_copy() -> None:
    ring = RingBuffer(4)
    ring.write(_ramp(0, 4))
    ring.read(0, 4)[:] = -1
    np.testing.assert_array_equal(ring.read(0, 4), _ramp(0, 4))


def test_reading_overwritten_or_future_samples_fails() -> None:
    ring = RingBuffer(10)
    ring.write(_ramp(0, 10))
    ring.release(10)
    ring.write(_ramp(10, 15))
    with pytest.raises(RangeUnavailable, match="gone"):
        ring.read(4, 8)
    with pytest.raises(RangeUnavailable, match="not written yet"):
        ring.read(12, 16)
    with pytest.raises(ValueError):
        ring.read(8, 6)
    assert issubclass(RangeUnavailable, ValueError)


def test_drop_oldest_overwrites_unreleased_and_counts() -> None:
    ring = RingBuffer(10, drop_oldest=True)
    ring.write(_ramp(0, 8))
    ring.release(2)
    assert ring.write(_ramp(8, 13)) == 1  # offsets 0-1 were released; only 2 is lost
    assert ring.dropped_samples == 1
    assert (ring.start_offset, ring.released_offset, ring.end_offset) == (3, 3, 13)
    np.testing.assert_array_equal(ring.read(3, 13), _ramp(3, 13))


def test_refusing_policy_raises_and_writes_nothing() -> None:
    ring = RingBuffer(10, drop_oldest=False)
    ring.write(_ramp(0, 8))
    with pytest.raises(BufferOverflow) as info:
        ring.write(_ramp(8, 13))
    assert info.value.code == "buffer_overflow"
    assert ring.end_offset == 8
    assert ring.dropped_samples == 0
    np.testing.assert_array_equal(ring.read(0, 8), _ramp(0, 8))
    ring.release(3)  # once the consumer catches up, the same write fits
    assert ring.write(_ramp(8, 13)) == 0
    np.testing.assert_array_equal(ring.read(3, 13), _ramp(3, 13))


def test_write_longer_than_capacity_keeps_the_tail() -> None:
    ring = RingBuffer(10)
    ring.write(_ramp(0, 3))
    ring.release(3)
    assert ring.write(_ramp(3, 28)) == 15  # samples 3..17 never fit
    assert (ring.start_offset, ring.end_offset) == (18, 28)
    np.testing.assert_array_equal(ring.read(18, 28), _ramp(18, 28))


def test_release_is_monotonic_and_bounded() -> None:
    ring = RingBuffer(10)
    ring.write(_ramp(0, 5))
    ring.release(4)
    ring.release(2)
    assert ring.released_offset == 4
    with pytest.raises(ValueError, match="only 5"):
        ring.release(6)


def test_matches_a_plain_array_under_random_use() -> None:
    rng = np.random.default_rng(1)
    ring = RingBuffer(1000, drop_oldest=True)
    stream = rng.standard_normal(50_000).astype(np.float32)
    pos = 0
    while pos < len(stream):
        n = int(rng.integers(0, 700))
        ring.write(stream[pos : pos + n])
        pos = min(pos + n, len(stream))
        ring.release(max(0, pos - int(rng.integers(0, 1200))))
        lo = int(rng.integers(ring.start_offset, ring.end_offset + 1))
        hi = int(rng.integers(lo, ring.end_offset + 1))
        np.testing.assert_array_equal(ring.read(lo, hi), stream[lo:hi])
    assert ring.end_offset == len(stream)
