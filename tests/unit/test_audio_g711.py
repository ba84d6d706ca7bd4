"""G.711 decoding against FFmpeg's own encoder and decoder (PyAV), and the standard's fixed points."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from app.audio.g711 import G711Decoder, g711_to_float
from app.errors import FrameTooLarge, MisalignedAudio


def ffmpeg_encode(samples: np.ndarray, law: str) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format=law) as container:
        stream = container.add_stream(f"pcm_{law}", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))  # type: ignore[union-attr]
        container.mux(stream.encode(None))  # type: ignore[union-attr]
    return buf.getvalue()


def ffmpeg_decode(data: bytes, law: str) -> np.ndarray:
    with av.open(io.BytesIO(data), format=law, options={"sample_rate": "8000"}) as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(frames).astype(np.int32)


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_every_code_matches_ffmpeg(law: str) -> None:
    codes = bytes(range(256))
    mine = np.round(g711_to_float(codes, law) * 32768).astype(np.int32)  # type: ignore[arg-type]
    assert np.array_equal(mine, ffmpeg_decode(codes, law))


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_round_trip_of_a_tone(law: str) -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    decoded = g711_to_float(ffmpeg_encode(tone, law), law)  # type: ignore[arg-type]
    error = np.abs(decoded - tone / 32768)
    assert error.max() < 0.02 and float(np.corrcoef(decoded, tone)[0, 1]) > 0.999


def test_fixed_points() -> None:
    assert g711_to_float(b"\xff\x7f", "mulaw").tolist() == [0.0, 0.0]  # both zeros of mu-law
    assert round(float(g711_to_float(b"\x80", "mulaw")[0]) * 32768) == 32124  # largest positive
    assert round(float(g711_to_float(b"\xd5", "alaw")[0]) * 32768) == 8  # smallest positive
    assert round(float(g711_to_float(b"\x2a", "alaw")[0]) * 32768) == -32256


def test_decoder_resamples_mixes_and_checks_frames() -> None:
    decoder = G711Decoder("mulaw", 8000, 2, max_frame_bytes=1000)
    out = decoder.feed(bytes([0x80, 0xFF] * 400))  # left loud, right silent: mixed to half
    out = np.concatenate([out, decoder.flush()])
    assert 750 < len(out) <= 800 * 2 and abs(float(np.median(out[100:-100])) - 32124 / 2 / 32768) < 0.01
    with pytest.raises(FrameTooLarge):
        decoder.feed(bytes(1002))
    with pytest.raises(MisalignedAudio):
        g711_to_float(b"\x00\x00\x00", "alaw", channels=2)
