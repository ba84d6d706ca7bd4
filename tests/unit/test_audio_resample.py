from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.audio import StreamResampler, resample

OUT_RATE = 16000


def _sine(freq: float, rate: int, seconds: float = 1.0) -> npt.NDArray[np.float32]:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _chunked(resampler: StreamResampler, x: npt.NDArray[np.float32], seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    parts, pos = [], 0
    while pos < len(x):
        step = int(rng.integers(1, 2000))
        parts.append(resampler.feed(x[pos : pos + step]))
        pos += step
    parts.append(resampler.flush())
    return np.concatenate(parts)


def _peak_hz(x: npt.NDArray[np.float32], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("freq", [440.0, 3000.0])
def test_sine_keeps_length_and_frequency(rate: int, freq: float) -> None:
    out = _chunked(StreamResampler(rate), _sine(freq, rate))
    assert out.dtype == np.float32
    assert abs(len(out) - OUT_RATE) <= 1
    assert _peak_hz(out, OUT_RATE) == pytest.approx(freq, abs=1.0)


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_chunked_equals_one_shot(rate: int) -> None:
    x = _sine(440.0, rate, seconds=2.0)
    np.testing.assert_allclose(_chunked(StreamResampler(rate), x, seed=rate), resample(x, rate), atol=1e-5)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_no_clicks_at_chunk_boundaries(rate: int) -> None:
    freq = 440.0
    out = _chunked(StreamResampler(rate), _sine(freq, rate))
    steady = out[200:-200]  # the filter's start and end transients are not chunk boundaries
    # a clean 0.5-amplitude sine never moves more than this between two samples
    max_step = 0.5 * 2 * np.pi * freq / OUT_RATE
    assert np.max(np.abs(np.diff(steady))) <= max_step * 1.05


def test_16k_passes_through() -> None:
    x = _sine(440.0, OUT_RATE)
    resampler = StreamResampler(OUT_RATE)
    np.testing.assert_array_equal(resampler.feed(x), x)
    assert resampler.flush().shape == (0,)


def test_flush_ends_the_stream() -> None:
    resampler = StreamResampler(44100)
    resampler.feed(_sine(440.0, 44100))
    resampler.flush()
    assert resampler.flush().shape == (0,)
    with pytest.raises(ValueError, match="flushed"):
        resampler.feed(_sine(440.0, 44100))


def test_rejects_stereo_arrays() -> None:
    with pytest.raises(ValueError, match="mono"):
        StreamResampler(8000).feed(np.zeros((2, 100), dtype=np.float32))
