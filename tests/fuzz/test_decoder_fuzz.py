"""Every audio decoder, fuzzed directly: random, truncated, bit-flipped, spliced and interleaved frames of
real clips. Whatever arrives, a decoder answers with sound audio (finite float32, within full scale)
or an audio error code with a bounded message, and never raises anything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audio import AudioDecoder, StreamResampler, make_decoder, resample
from app.audio.g711 import g711_to_float
from app.config import Limits
from app.options import AudioEncoding, AudioOptions
from tests.fuzz.budget import budget, timeout
from tests.fuzz.checks import check_audio, run_decoder
from tests.fuzz.containers import mp3_stream, ogg_stream, wav_stream
from tests.fuzz.seeds import SEED_FORMATS, seed_audio, seed_bytes, seed_stream
from tests.fuzz.strategies import frames_of, interleave, mutated_stream

pytestmark = timeout(120)

LIMITS = Limits()
ENCODED: list[AudioEncoding] = ["wav", "ogg", "mp3"]
RAW: list[AudioEncoding] = ["pcm_s16le", "pcm_mulaw", "pcm_alaw"]


@pytest.fixture(scope="module")
def encoded(shared_data: Path) -> dict[str, bytes]:
    """The seed clip in every encoded format (wav s16 and f32, ogg Opus and Vorbis, mp3)."""
    return {name: seed_stream(shared_data, name) for name in SEED_FORMATS}


def _seeds(encoding: str, encoded: dict[str, bytes]) -> tuple[list[bytes], list[bytes]]:
    """This encoding's real encoded (and its corpus entries), and every other format's."""
    own = [s for name, s in encoded.items() if name.split("-")[0] == encoding] + seed_bytes(encoding)
    return own, [s for name, s in encoded.items() if name.split("-")[0] != encoding]


def _decoder(encoding: AudioEncoding, sample_rate: int = 16000, channels: int = 1) -> AudioDecoder:
    return make_decoder(AudioOptions(encoding=encoding, sample_rate=sample_rate, channels=channels), LIMITS)


@pytest.mark.parametrize("encoding", ENCODED)
@settings(max_examples=budget(60))
@given(data=st.data())
def test_encoded_decoders_survive_mutated_streams(
    encoding: AudioEncoding, encoded: dict[str, bytes], data: st.DataObject
) -> None:
    own, others = _seeds(encoding, encoded)
    stream = data.draw(mutated_stream(own, others), label="stream")
    frames = data.draw(frames_of(stream, LIMITS.max_encoded_frame_bytes), label="frames")
    run_decoder(_decoder(encoding), frames)


@pytest.mark.parametrize("encoding", ENCODED)
@settings(max_examples=budget(25))
@given(data=st.data())
def test_encoded_decoders_survive_interleaved_streams(
    encoding: AudioEncoding, encoded: dict[str, bytes], data: st.DataObject
) -> None:
    """Frames of two encoded in turn, as two producers writing to one socket would send them."""
    own, others = _seeds(encoding, encoded)
    a = data.draw(frames_of(data.draw(mutated_stream(own, others)), LIMITS.max_encoded_frame_bytes))
    b = data.draw(frames_of(data.draw(mutated_stream(own + others, own)), LIMITS.max_encoded_frame_bytes))
    run_decoder(_decoder(encoding), interleave(a, b))


STRUCTURED = {"wav": wav_stream(), "ogg": ogg_stream(), "mp3": mp3_stream()}


@pytest.mark.parametrize("encoding", ENCODED)
@settings(max_examples=budget(300))
@given(data=st.data())
def test_encoded_decoders_survive_drawn_containers(encoding: AudioEncoding, data: st.DataObject) -> None:
    """Containers built field by field (page headers, chunk sizes, frame headers, tags): past the first
    checks that random bytes never get through."""
    stream = data.draw(STRUCTURED[encoding], label="stream")
    run_decoder(_decoder(encoding), data.draw(frames_of(stream, LIMITS.max_encoded_frame_bytes), label="frames"))


def test_unmutated_seed_streams_decode_without_errors(encoded: dict[str, bytes]) -> None:
    """The mutations start from encoded that decode cleanly: an error in a mutant is the mutation's."""
    for name, stream in encoded.items():
        encoding = name.split("-")[0]
        frames = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]
        samples, codes = run_decoder(_decoder(encoding), frames)  # type: ignore[arg-type]
        assert codes == [] and samples > 4 * 16000, name


@pytest.mark.parametrize("encoding", RAW)
@settings(max_examples=budget(60))
@given(
    rate=st.integers(8000, 48000) | st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    channels=st.sampled_from([1, 2]),
    frames=st.lists(st.binary(max_size=9000) | st.integers(0, 8193).map(bytes), max_size=40),
)
def test_raw_decoders_take_any_bytes(encoding: AudioEncoding, rate: int, channels: int, frames: list[bytes]) -> None:
    """Raw PCM and G.711: every aligned frame within the limit is audio, anything else a stable error;
    nothing is lost or invented by resampling tiny or uneven frames."""
    width = (2 if encoding == "pcm_s16le" else 1) * channels
    samples, codes = run_decoder(_decoder(encoding, rate, channels), frames)
    good = [f for f in frames if len(f) % width == 0 and len(f) <= LIMITS.max_frame_bytes]
    assert len(codes) == len(frames) - len(good)
    expected = sum(len(f) for f in good) // width * 16000 / rate
    assert abs(samples - expected) <= 2, (samples, expected)


@settings(max_examples=budget(60))
@given(
    rate=st.integers(8000, 48000),
    sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=30),
    start=st.integers(0, 40000),
)
def test_stream_resampling_equals_one_shot_resampling(
    shared_data: Path, rate: int, sizes: list[int], start: int
) -> None:
    """Real speech cut into chunks of any size (empty ones too) resamples exactly as in one piece."""
    signal = seed_audio(shared_data)[start : start + sum(sizes)]
    resampler = StreamResampler(rate)
    parts, pos = [], 0
    for size in sizes:
        parts.append(resampler.feed(signal[pos : pos + size]))
        pos += size
    parts.append(resampler.flush())
    for part in parts:
        check_audio(part)
    chunked = np.concatenate(parts)
    whole = resample(signal, rate)
    assert len(chunked) == len(whole)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_tables_are_within_full_scale(law: str) -> None:
    every_byte = g711_to_float(bytes(range(256)), law)  # type: ignore[arg-type]
    check_audio(every_byte)
    assert len(set(every_byte.tolist())) >= 255  # mu-law has +0 and -0
