"""Decoding of every accepted encoding from real audio, fed as a client would: in 4096-byte pieces.

The encoded files are made at test time from jfk.flac with PyAV's encoders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import soxr

from app.audio import AudioDecoder, Mp3Decoder, OggDecoder, PcmDecoder, WavDecoder, make_decoder
from app.audio.ogg import read_page
from app.config import Limits
from app.errors import AudioError, FrameTooLarge, MisalignedAudio, UndecodableAudio
from app.options import AudioEncoding, AudioOptions
from tests.encoding import FORMATS, LOSSLESS, encode

Signal = npt.NDArray[np.float32]
RATE = 16000
CHUNK = 4096


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def source(shared_data: Path) -> tuple[npt.NDArray[np.float32], int]:
    """jfk.flac as planar float32 (2, n) at its own rate (44.1 kHz stereo)."""
    with av.open(str(shared_data / "clips" / "jfk.flac")) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        planes = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
        rate = stream.rate
    return np.concatenate(planes, axis=1).astype(np.float32), rate


@pytest.fixture(scope="module")
def reference(source: tuple[npt.NDArray[np.float32], int]) -> Signal:
    """What every decoder should produce: the clip mixed to mono and resampled to 16 kHz."""
    planes, rate = source
    return np.asarray(soxr.resample(planes.mean(axis=0), rate, RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def encoded(source: tuple[npt.NDArray[np.float32], int]) -> dict[str, bytes]:
    planes, rate = source
    return {name: encode(planes, rate, spec) for name, spec in FORMATS.items()}


def _chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _decoder(encoding: AudioEncoding) -> AudioDecoder:
    return make_decoder(AudioOptions(encoding=encoding), Limits())


def _stream(decoder: AudioDecoder, data: bytes, size: int = CHUNK) -> tuple[list[Signal], Signal]:
    return [decoder.feed(chunk) for chunk in _chunks(data, size)], decoder.flush()


def _align(out: Signal, ref: Signal, max_lag: int = 800) -> tuple[int, float]:
    """The lag of ``out`` behind ``ref`` (within ±max_lag samples) and their correlation once aligned."""
    n = min(len(out), len(ref))
    size = 1 << (2 * n - 1).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(out[:n], size) * np.conj(np.fft.rfft(ref[:n], size)), size)
    lags = np.r_[np.arange(max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(np.r_[xcorr[: max_lag + 1], xcorr[-max_lag:]])])
    a, b = (out[lag:], ref) if lag >= 0 else (out, ref[-lag:])
    m = min(len(a), len(b))
    return lag, float(np.corrcoef(a[:m], b[:m])[0, 1])


# --------------------------------------------------------------------------- real audio


@pytest.mark.parametrize("name", FORMATS)
def test_streamed_decoding_matches_the_source(name: str, encoded: dict[str, bytes], reference: Signal) -> None:
    encoding = FORMATS[name].encoding
    parts, tail = _stream(_decoder(encoding), encoded[name])
    out = np.concatenate([*parts, tail])
    assert out.dtype == np.float32
    assert out.ndim == 1

    # (a) audio comes out while the bytes arrive, not only at the end
    before_flush = sum(len(p) for p in parts)
    assert sum(1 for p in parts if len(p)) >= 3
    assert before_flush >= 0.9 * len(out)

    # (b) the duration is the source's: encoder delay and padding are cut
    assert abs(len(out) - len(reference)) <= 0.05 * RATE

    # (c) the waveform is the source's, at the same time offsets
    lag, corr = _align(out, reference)
    assert abs(lag) <= 16  # 1 ms
    assert corr > (0.999 if name in LOSSLESS else 0.95)


@pytest.mark.parametrize("name", ["wav-s16", "mp3", "ogg-opus"])
def test_output_does_not_depend_on_how_bytes_are_cut(name: str, encoded: dict[str, bytes]) -> None:
    encoding = FORMATS[name].encoding
    parts, tail = _stream(_decoder(encoding), encoded[name])
    even = np.concatenate([*parts, tail])
    rng = np.random.default_rng(7)
    data, decoder, pieces, pos = encoded[name], _decoder(encoding), [], 0
    while pos < len(data):
        step = int(rng.integers(1, 6000))
        pieces.append(decoder.feed(data[pos : pos + step]))
        pos += step
    uneven = np.concatenate([*pieces, decoder.flush()])
    np.testing.assert_allclose(uneven, even, atol=1e-5)


def test_chained_ogg_streams_play_one_after_the_other(encoded: dict[str, bytes], reference: Signal) -> None:
    parts, tail = _stream(_decoder("ogg"), encoded["ogg-opus"] * 2)
    out = np.concatenate([*parts, tail])
    assert abs(len(out) - 2 * len(reference)) <= 0.1 * RATE


def test_chained_ogg_link_without_end_page(encoded: dict[str, bytes], reference: Signal) -> None:
    data, pos, last_page = encoded["ogg-opus"], 0, 0
    while pos < len(data):  # find where the last (end-of-stream) page begins
        page = read_page(data, pos)
        assert page is not None
        last_page, pos = pos, pos + 27 + len(page.lacing) + len(page.body)
    parts, tail = _stream(_decoder("ogg"), data[:last_page] + data)
    second_half = np.concatenate([*parts, tail])[-len(reference) :]
    assert _align(second_half, reference)[1] > 0.95


def test_mp3_id3v1_trailer_is_not_audio(encoded: dict[str, bytes], reference: Signal) -> None:
    parts, tail = _stream(_decoder("mp3"), encoded["mp3"] + b"TAG" + bytes(125))
    assert sum(map(len, [*parts, tail])) == len(reference)


def test_mp3_without_id3_tag(encoded: dict[str, bytes], reference: Signal) -> None:
    data = encoded["mp3"]
    assert data.startswith(b"ID3")
    start = data.index(b"\xff\xfb")  # the first MPEG frame after the tag
    parts, tail = _stream(_decoder("mp3"), data[start:])
    assert abs(sum(map(len, [*parts, tail])) - len(reference)) <= 0.05 * RATE


def test_wav_metadata_after_the_samples_is_not_audio() -> None:
    samples = (np.sin(np.arange(1600) / 5) * 10000).astype("<i2").tobytes()
    fmt = (
        np.array([1, 1], "<u2").tobytes()
        + np.array([16000, 32000], "<u4").tobytes()
        + np.array([2, 16], "<u2").tobytes()
    )
    chunks = [b"fmt ", len(fmt).to_bytes(4, "little"), fmt, b"data", len(samples).to_bytes(4, "little"), samples]
    trailer = b"LIST" + (4000).to_bytes(4, "little") + bytes(4000)
    body = b"WAVE" + b"".join(chunks) + trailer
    data = b"RIFF" + len(body).to_bytes(4, "little") + body
    parts, tail = _stream(_decoder("wav"), data, size=7)  # tiny pieces split the header too
    out = np.concatenate([*parts, tail])
    assert len(out) == 1600
    np.testing.assert_allclose(out * 32768, np.frombuffer(samples, "<i2"), atol=0.5)


def test_pcm_at_8k_stereo_is_mixed_and_resampled() -> None:
    t = np.arange(8000) / 8000
    left = np.sin(2 * np.pi * 440 * t) * 16000
    frames = np.stack([left, left], axis=1).astype("<i2").tobytes()
    decoder = make_decoder(AudioOptions(sample_rate=8000, channels=2), Limits())
    assert isinstance(decoder, PcmDecoder)
    out = np.concatenate([decoder.feed(c) for c in _chunks(frames, 2048)] + [decoder.flush()])
    assert abs(len(out) - RATE) <= 1
    assert np.max(np.abs(out)) == pytest.approx(16000 / 32768, rel=0.02)


def test_factory_picks_the_decoder_for_the_encoding() -> None:
    assert isinstance(_decoder("wav"), WavDecoder)
    assert isinstance(_decoder("ogg"), OggDecoder)
    assert isinstance(_decoder("mp3"), Mp3Decoder)
    assert isinstance(_decoder("pcm_s16le"), PcmDecoder)


# --------------------------------------------------------------------------- bad input


def test_pcm_frame_limit() -> None:
    decoder = _decoder("pcm_s16le")
    assert len(decoder.feed(bytes(8192))) > 0
    with pytest.raises(FrameTooLarge, match="8192") as info:
        decoder.feed(bytes(8194))
    assert info.value.code == "frame_too_large"


def test_pcm_odd_frame_is_misaligned_and_the_stream_goes_on() -> None:
    decoder = _decoder("pcm_s16le")
    with pytest.raises(MisalignedAudio):
        decoder.feed(bytes(101))
    assert len(decoder.feed(bytes(100))) == 50


@pytest.mark.parametrize("encoding", ["wav", "ogg", "mp3"])
def test_encoded_frame_limit(encoding: AudioEncoding) -> None:
    with pytest.raises(FrameTooLarge, match="65536"):
        _decoder(encoding).feed(bytes(65537))


@pytest.mark.parametrize("encoding", ["wav", "ogg", "mp3"])
def test_garbage_is_undecodable_and_reported_consistently(encoding: AudioEncoding) -> None:
    garbage = np.random.default_rng(3).bytes(64 * 1024)
    decoder = _decoder(encoding)
    raised = []
    for chunk in _chunks(garbage):
        try:
            decoder.feed(chunk)
        except UndecodableAudio as exc:  # anything else fails the test
            raised.append(exc)
    with pytest.raises(UndecodableAudio):
        decoder.flush()
    assert raised
    assert all(exc.code == "undecodable_audio" for exc in raised)
    # once the stream is known not to be this format, every call says so
    with pytest.raises(UndecodableAudio, match=re.escape(raised[-1].message)):
        decoder.feed(b"more")


@pytest.mark.parametrize("name", ["mp3", "ogg-opus", "ogg-vorbis", "wav-s16"])
def test_corruption_mid_stream_is_survived(name: str, encoded: dict[str, bytes], reference: Signal) -> None:
    data = bytearray(encoded[name])
    rng = np.random.default_rng(5)
    middle = slice(len(data) // 3, len(data) // 3 + 3000)
    data[middle] = rng.bytes(3000)
    decoder = _decoder(FORMATS[name].encoding)
    out: list[Signal] = []
    for chunk in _chunks(bytes(data)):
        try:
            out.append(decoder.feed(chunk))
        except AudioError as exc:
            assert isinstance(exc, UndecodableAudio)
    out.append(decoder.flush())
    # at most the damaged part (and the Ogg page around it) is lost
    assert sum(map(len, out)) >= 0.75 * len(reference)


def test_unsupported_wav_format_is_named() -> None:
    fmt = (
        np.array([2, 1], "<u2").tobytes()
        + np.array([16000, 8000], "<u4").tobytes()
        + np.array([256, 4], "<u2").tobytes()
    )
    body = b"WAVEfmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + bytes(4) + bytes(1000)
    with pytest.raises(UndecodableAudio, match="format tag 2"):
        _decoder("wav").feed(b"RIFF" + len(body).to_bytes(4, "little") + body)


@pytest.mark.parametrize("name", ["wav-s16", "ogg-opus", "mp3"])
def test_stream_ending_inside_the_header_is_undecodable(name: str, encoded: dict[str, bytes]) -> None:
    decoder = _decoder(FORMATS[name].encoding)
    decoder.feed(encoded[name][:30])
    with pytest.raises(UndecodableAudio):
        decoder.flush()


def test_truncated_stream_keeps_what_was_decoded(encoded: dict[str, bytes]) -> None:
    data = encoded["mp3"]
    parts, tail = _stream(_decoder("mp3"), data[: len(data) // 2])
    assert sum(map(len, [*parts, tail])) > 0.4 * 11 * RATE
