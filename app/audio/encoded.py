"""What the wav, ogg and mp3 stream decoders share.

The decoders take a file's bytes in arbitrary pieces and return 16 kHz audio as soon
as it can be decoded. Errors follow one rule (see :class:`EncodedStreamDecoder`), and
no PyAV exception reaches the caller.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import av
import numpy as np

from app.audio.pcm import clipped
from app.audio.resample import StreamResampler
from app.errors import FrameTooLarge, UndecodableAudio
from app.transcript import Audio

logger = logging.getLogger(__name__)

_EMPTY: Audio = np.zeros(0, dtype=np.float32)

# full scale of the integer sample formats PyAV hands out, and their zero point
_INT_FORMATS: dict[str, tuple[float, float]] = {
    "u8": (128.0, 128.0),
    "s16": (32768.0, 0.0),
    "s32": (2147483648.0, 0.0),
    "s64": (9223372036854775808.0, 0.0),
}


def frame_to_mono(frame: av.AudioFrame) -> Audio:
    """A decoded frame as float32 mono at its own rate (channels averaged)."""
    fmt = frame.format
    channels = len(frame.layout.channels)
    data = frame.to_ndarray()
    # planar frames come as (channels, samples); packed ones as (1, samples * channels)
    data = data.reshape(channels, -1) if fmt.is_planar else data.reshape(-1, channels).T
    name = fmt.name.removesuffix("p")
    if name in _INT_FORMATS:
        scale, zero = _INT_FORMATS[name]
        samples = (data.astype(np.float32) - zero) / scale
    else:  # a corrupt packet can decode to samples far past full scale
        samples = clipped(data)
    mono = samples.mean(axis=0, dtype=np.float32) if channels > 1 else samples[0]
    return np.ascontiguousarray(mono, dtype=np.float32)


class SampleTrimmer:
    """Drops ranges of a decoder's output, given as positions in that output.

    Codecs pad the start (encoder delay) and the end (to fill the last frame); the
    container says how much, and cutting it keeps stream offsets true to the source.
    """

    def __init__(self) -> None:
        self.position = 0  # decoder-output samples seen so far
        self._cuts: list[tuple[int, int | None]] = []

    def cut(self, start: int, end: int | None = None) -> None:
        """Drop output samples ``[start, end)``; ``end=None`` drops everything from ``start`` on."""
        self._cuts.append((start, end))

    def apply(self, samples: Audio) -> Audio:
        begin, end = self.position, self.position + len(samples)
        self.position = end
        keep: np.ndarray | None = None
        for cut_start, cut_end in self._cuts:
            lo, hi = max(cut_start, begin), min(end if cut_end is None else cut_end, end)
            if lo < hi:
                if keep is None:
                    keep = np.ones(len(samples), dtype=bool)
                keep[lo - begin : hi - begin] = False
        return samples if keep is None else samples[keep]


class EncodedStreamDecoder(ABC):
    """Base of the decoders for encoded streams.

    Error rule: a *fatal* problem (not this format, unsupported codec, no audio found)
    raises :class:`UndecodableAudio`, and every later call raises it again, since the
    rest of the stream cannot be interpreted. A *recoverable* one (a corrupt frame or
    page, skipped) raises :class:`UndecodableAudio` at the end of the call that met
    it; audio decoded in that call is not lost but returned by the next call.
    """

    #: the wire name of the encoding, for messages
    encoding: str = ""

    def __init__(self, max_frame_bytes: int) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._resampler: StreamResampler | None = None
        self._out: list[Audio] = []
        self._fatal: str | None = None
        self._problem: str | None = None  # first recoverable problem in the current call
        self._flushed = False
        self.bytes_fed = 0
        self.samples_decoded = 0  # at the source rate, after trimming

    # ------------------------------------------------------------------ public API

    def feed(self, data: bytes) -> Audio:
        if len(data) > self._max_frame_bytes:
            raise FrameTooLarge(
                f"{self.encoding} audio frame of {len(data)} bytes exceeds the limit of "
                f"{self._max_frame_bytes} bytes; send smaller chunks"
            )
        if self._flushed:
            raise ValueError("decoder already flushed; create a new one for a new stream")
        self.bytes_fed += len(data)
        self._run(self._consume, bytes(data))
        return self._take()

    def flush(self) -> Audio:
        if self._fatal is not None:
            raise UndecodableAudio(self._fatal)
        if not self._flushed:
            self._flushed = True
            try:
                self._run(self._finish)
            finally:
                if self._resampler is not None:
                    self._out.append(self._resampler.flush())
        return self._take()

    # ------------------------------------------------------------------ for subclasses

    @abstractmethod
    def _consume(self, data: bytes) -> None:
        """Decode what ``data`` completes; call :meth:`_emit` with the audio."""

    @abstractmethod
    def _finish(self) -> None:
        """The stream ended: drain the codec."""

    def _emit(self, samples: Audio, rate: int) -> None:
        if not len(samples):
            return
        if self._resampler is None or self._resampler.in_rate != rate:
            # a chained stream may change rate: end the old filter cleanly first
            if self._resampler is not None:
                self._out.append(self._resampler.flush())
            self._resampler = StreamResampler(rate)
        self.samples_decoded += len(samples)
        self._out.append(self._resampler.feed(samples))

    def _recoverable(self, problem: str) -> None:
        logger.debug("%s stream: %s", self.encoding, problem)
        if self._problem is None:
            self._problem = problem

    def _decode(self, ctx: av.AudioCodecContext, packet: av.Packet[Any] | None) -> list[av.AudioFrame]:
        """Frames for one packet; a corrupt packet is skipped and reported."""
        try:
            return ctx.decode(packet)
        except av.FFmpegError as exc:
            self._recoverable(f"skipped a corrupt {self.encoding} packet ({exc.strerror or 'invalid data'})")
            return []

    # ------------------------------------------------------------------ internals

    def _run(self, step: Callable[..., None], *args: bytes) -> None:
        if self._fatal is not None:
            raise UndecodableAudio(self._fatal)
        try:
            step(*args)
        except UndecodableAudio as exc:
            self._fatal = exc.message
            raise
        except (av.FFmpegError, ValueError) as exc:
            # a codec failing outside a packet (opening, parsing) leaves nothing to resume
            logger.debug("%s stream failed", self.encoding, exc_info=True)
            self._fatal = f"the {self.encoding} stream cannot be decoded"
            raise UndecodableAudio(self._fatal) from exc
        if self._problem is not None:
            problem, self._problem = self._problem, None
            raise UndecodableAudio(f"{problem}; decoding continues with the next data")

    def _take(self) -> Audio:
        out, self._out = self._out, []
        if not out:
            return _EMPTY
        return out[0] if len(out) == 1 else np.concatenate(out)
