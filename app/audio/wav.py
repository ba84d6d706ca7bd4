"""Streaming WAV (RIFF) decoding: the header is parsed here, the samples converted with numpy."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from app.audio.encoded import EncodedStreamDecoder
from app.audio.pcm import clipped
from app.errors import UndecodableAudio
from app.transcript import Audio

_PCM = 1
_IEEE_FLOAT = 3
_EXTENSIBLE = 0xFFFE
# a header is a few dozen bytes; metadata chunks before the samples are capped so a
# stream that never reaches its data chunk cannot make us buffer without bound
_MAX_HEADER_BYTES = 1 << 20
# writers that stream WAV to a pipe cannot know the data size and write one of these
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class WavFormat:
    tag: int  # _PCM or _IEEE_FLOAT (extensible already resolved)
    channels: int
    sample_rate: int
    bits: int

    @property
    def block_bytes(self) -> int:
        return self.channels * self.bits // 8

    def to_mono(self, data: bytes) -> Audio:
        """Whole sample frames of ``data`` as float32 mono."""
        if self.tag == _IEEE_FLOAT:
            samples = clipped(np.frombuffer(data, dtype="<f4" if self.bits == 32 else "<f8"))
        elif self.bits == 8:  # 8-bit WAV is unsigned
            samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
        elif self.bits == 24:
            b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            samples = ((value ^ 0x800000) - 0x800000).astype(np.float32) / float(1 << 23)
        else:
            dtype = "<i2" if self.bits == 16 else "<i4"
            samples = np.frombuffer(data, dtype=dtype).astype(np.float32) / float(1 << (self.bits - 1))
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1, dtype=np.float32)
        return np.asarray(samples, dtype=np.float32)


def parse_fmt_chunk(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise UndecodableAudio(f"WAV fmt chunk is {len(body)} bytes; at least 16 are needed")
    tag, channels, rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack_from("<H", body, 24)[0]  # the sub-format GUID starts with the plain tag
    supported = (tag == _PCM and bits in (8, 16, 24, 32)) or (tag == _IEEE_FLOAT and bits in (32, 64))
    if not supported:
        raise UndecodableAudio(
            f"WAV format tag {tag} with {bits} bits per sample is not supported; "
            "send PCM (8, 16, 24 or 32 bit) or IEEE float (32 or 64 bit)"
        )
    if not 1 <= channels <= 32 or not 1000 <= rate <= 384000:
        raise UndecodableAudio(f"WAV header declares {channels} channels at {rate} Hz, which is not usable")
    return WavFormat(tag, channels, rate, bits)


class WavDecoder(EncodedStreamDecoder):
    encoding = "wav"

    def __init__(self, max_frame_bytes: int) -> None:
        super().__init__(max_frame_bytes)
        self._head = bytearray()  # bytes before the samples, until the data chunk is found
        self._format: WavFormat | None = None
        self._data_left: int | None = None  # bytes of samples still expected; None = until the end
        self._carry = b""  # a sample frame split across two messages

    def _consume(self, data: bytes) -> None:
        if self._format is None:
            self._head += data
            found = self._parse_header()
            if found is None:
                return
            self._format, data = found
        if self._data_left is not None:
            # chunks after the samples (metadata) are not audio
            data = data[: self._data_left]
            self._data_left -= len(data)
        self._decode_samples(self._format, data)

    def _finish(self) -> None:
        if self._format is None and self.bytes_fed:
            raise UndecodableAudio("the WAV stream ended before its header was complete")
        # a final partial sample frame is a truncated file, not audio: drop it

    def _parse_header(self) -> tuple[WavFormat, bytes] | None:
        """The format and the first sample bytes once the data chunk is reached; None until then."""
        head = bytes(self._head)
        if len(head) >= 12 and (head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE"):
            raise UndecodableAudio("not a WAV stream: it must start with a RIFF/WAVE header")
        pos, fmt = 12, None
        while len(head) >= pos + 8:
            chunk_id, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
            body_start = pos + 8
            if chunk_id == b"data":
                if fmt is None:
                    raise UndecodableAudio("the WAV data chunk comes before its fmt chunk")
                self._data_left = None if size in _UNKNOWN_SIZES else size
                self._head = bytearray()
                return fmt, head[body_start:]
            if len(head) < body_start + size:
                break
            if chunk_id == b"fmt ":
                fmt = parse_fmt_chunk(head[body_start : body_start + size])
            pos = body_start + size + (size & 1)  # chunks are padded to an even length
        if len(head) > _MAX_HEADER_BYTES:
            raise UndecodableAudio(f"no WAV data chunk in the first {_MAX_HEADER_BYTES} bytes")
        return None

    def _decode_samples(self, fmt: WavFormat, data: bytes) -> None:
        data = self._carry + data
        whole = len(data) - len(data) % fmt.block_bytes
        self._carry = data[whole:]
        if whole:
            self._emit(fmt.to_mono(data[:whole]), fmt.sample_rate)
