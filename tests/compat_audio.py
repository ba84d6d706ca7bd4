"""Test audio for the compatible APIs: real clips joined with pauses, as PCM16 or a wav file."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from app.audio.files import load_audio, to_pcm16
from app.transcript import SAMPLE_RATE

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
#: two speakers alternating (the speechbrain clips), with their references
DIALOGUE = [
    ("sb_spk1_snt1.wav", "the child almost hurt the small dog"),
    ("sb_spk2_snt1.wav", "we are sure that one war is enough"),
    ("sb_spk1_snt2.wav", "drop the two when you add the figures"),
    ("sb_spk2_snt3.wav", "tear a thin sheet from the yellow pad"),
]


def joined(clips: Path, names: list[str], *, lead_s: float = 0.5, gap_s: float = 1.0, tail_s: float = 1.0) -> bytes:
    """PCM16 16 kHz mono of the clips with ``gap_s`` of silence between them."""
    parts = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)]
    for i, name in enumerate(names):
        parts.append(load_audio(clips / name))
        parts.append(np.zeros(int((tail_s if i == len(names) - 1 else gap_s) * SAMPLE_RATE), np.float32))
    return to_pcm16(np.concatenate(parts))


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def g711(pcm: bytes, law: str, rate: int = 8000) -> bytes:
    """16 kHz PCM16 as raw G.711 (``mulaw`` / ``alaw``) at ``rate``, encoded by FFmpeg (PyAV): a
    reference encoder independent of the decoder under test."""
    import av

    samples = np.frombuffer(pcm, "<i2").reshape(1, -1)
    buf = io.BytesIO()
    with av.open(buf, "w", format=law) as container:
        stream = container.add_stream(f"pcm_{law}", rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for converted in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    return buf.getvalue()
