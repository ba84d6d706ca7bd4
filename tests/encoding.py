"""Encoded test audio (wav, mp3, ogg) made at test time from real clips with PyAV's encoders."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import av
import numpy as np
import numpy.typing as npt

from app.options import AudioEncoding


@dataclass(frozen=True)
class Format:
    encoding: AudioEncoding
    muxer: str
    codec: str
    rate: int | None = None  # None: the source's
    codec_options: dict[str, str] = field(default_factory=dict)
    muxer_options: dict[str, str] = field(default_factory=dict)


def encode(planes: npt.NDArray[np.float32], rate: int, spec: Format) -> bytes:
    out_rate = spec.rate or rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=spec.muxer, options=spec.muxer_options) as container:
        stream = container.add_stream(spec.codec, rate=out_rate, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        stream.codec_context.options = spec.codec_options
        ctx = stream.codec_context
        resampler = av.AudioResampler(
            format=ctx.format, layout="stereo", rate=out_rate, frame_size=ctx.frame_size or None
        )
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")
        frame.sample_rate = rate
        for converted in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    return buf.getvalue()


# small Ogg pages, as a live encoder writes them; FFmpeg's default is one page a second
_LIVE_PAGES = {"page_duration": "200000"}
FORMATS = {
    "wav-s16": Format("wav", "wav", "pcm_s16le"),
    "wav-s24": Format("wav", "wav", "pcm_s24le"),
    "wav-f32": Format("wav", "wav", "pcm_f32le"),
    "wav-u8-8k": Format("wav", "wav", "pcm_u8", rate=8000),
    "mp3": Format("mp3", "mp3", "libmp3lame"),
    "ogg-opus": Format("ogg", "ogg", "libopus", rate=48000, muxer_options=_LIVE_PAGES),
    # FFmpeg's own Vorbis encoder (libvorbis is not in PyAV's wheels) writes odd granule positions
    "ogg-vorbis": Format("ogg", "ogg", "vorbis", codec_options={"strict": "experimental"}, muxer_options=_LIVE_PAGES),
}
LOSSLESS = {"wav-s16", "wav-s24", "wav-f32"}
