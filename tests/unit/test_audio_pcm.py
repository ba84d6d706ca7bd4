from __future__ import annotations

import numpy as np
import pytest

from app.audio import float_to_pcm16, pcm16_to_float
from app.errors import MisalignedAudio


def _pcm(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def test_mono_scales_to_unit_range() -> None:
    out = pcm16_to_float(_pcm(0, 16384, -32768, 32767))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.5, -1.0, 32767 / 32768])


def test_stereo_is_averaged_to_mono() -> None:
    # frames: (L, R) = (16384, -16384), (8192, 8192), (-32768, 0)
    out = pcm16_to_float(_pcm(16384, -16384, 8192, 8192, -32768, 0), channels=2)
    np.testing.assert_allclose(out, [0.0, 0.25, -0.5])


def test_empty_frame_gives_no_samples() -> None:
    out = pcm16_to_float(b"", channels=2)
    assert out.shape == (0,)
    assert out.dtype == np.float32


def test_odd_byte_count_is_misaligned() -> None:
    with pytest.raises(MisalignedAudio, match="odd byte count") as info:
        pcm16_to_float(b"\x00\x01\x02")
    assert info.value.code == "misaligned_audio"


def test_stereo_needs_whole_frames() -> None:
    with pytest.raises(MisalignedAudio, match="2-channel"):
        pcm16_to_float(_pcm(1, 2, 3), channels=2)


def test_float_to_pcm16_round_trips_and_clips() -> None:
    samples = np.array([0.0, 0.5, -0.5, 2.0, -2.0], dtype=np.float32)
    back = pcm16_to_float(float_to_pcm16(samples))
    np.testing.assert_allclose(back, [0.0, 0.5, -0.5, 1.0, -1.0], atol=1e-4)
