"""Streaming Ogg decoding (Opus and Vorbis).

Ogg pages are split here and their packets reassembled; the codec headers become
the codec context's extradata, and each audio packet is decoded as it completes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import av

from app.audio.encoded import EncodedStreamDecoder, SampleTrimmer, frame_to_mono
from app.errors import UndecodableAudio

_CAPTURE = b"OggS"
_PAGE_HEADER = 27  # bytes before the segment table
_CONTINUED, _BOS, _EOS = 1, 2, 4
# identification packets of the codecs we decode, and of those we can only name
_CODECS = {b"OpusHead": "opus", b"\x01vorbis": "vorbis"}
_UNSUPPORTED = {b"\x7fFLAC": "FLAC", b"Speex   ": "Speex", b"\x80theora": "Theora", b"fishead\x00": "Skeleton"}
_HEADER_PACKETS = {"opus": 2, "vorbis": 3}


@dataclass(frozen=True, slots=True)
class OggPage:
    flags: int
    granule: int
    serial: int
    sequence: int
    lacing: bytes
    body: bytes


def read_page(buf: bytes | bytearray, pos: int) -> OggPage | None:
    """The page starting at ``pos`` if ``buf`` holds all of it (the caller checked the capture pattern)."""
    if len(buf) < pos + _PAGE_HEADER:
        return None
    segments = buf[pos + 26]
    body_start = pos + _PAGE_HEADER + segments
    if len(buf) < body_start:
        return None
    lacing = bytes(buf[pos + _PAGE_HEADER : body_start])
    body_end = body_start + sum(lacing)
    if len(buf) < body_end:
        return None
    flags = buf[pos + 5]
    granule, serial, sequence = struct.unpack_from("<qII", buf, pos + 6)
    return OggPage(flags, granule, serial, sequence, lacing, bytes(buf[body_start:body_end]))


def xiph_lacing(packets: list[bytes]) -> bytes:
    """Vorbis headers packed as FFmpeg's extradata: count - 1, the sizes of all but the last, then the packets."""
    sizes = b"".join(b"\xff" * (len(p) // 255) + bytes([len(p) % 255]) for p in packets[:-1])
    return bytes([len(packets) - 1]) + sizes + b"".join(packets)


@dataclass(slots=True)
class _LogicalStream:
    """One codec's packets in the Ogg stream, identified by its serial number."""

    serial: int
    codec: str
    headers: list[bytes] = field(default_factory=list)
    ctx: av.AudioCodecContext | None = None
    pre_skip: int = 0  # Opus: samples the decoder drops at the start (granules count them)
    trimmer: SampleTrimmer = field(default_factory=SampleTrimmer)
    partial: bytearray | None = None  # a packet that continues on the next page
    next_sequence: int | None = None
    ended: bool = False

    def packets(self, page: OggPage) -> tuple[list[bytes], bool]:
        """The packets this page completes, and whether a page was missing before it."""
        missing = self.next_sequence is not None and page.sequence != self.next_sequence
        self.next_sequence = page.sequence + 1
        if missing or not page.flags & _CONTINUED:
            self.partial = None  # an unfinished packet cannot be completed any more
        # a continued page whose start we never saw carries the tail of a lost packet
        drop = bool(page.flags & _CONTINUED) and self.partial is None
        data = self.partial if self.partial is not None else bytearray()
        out: list[bytes] = []
        pos = 0
        for lace in page.lacing:
            data += page.body[pos : pos + lace]
            pos += lace
            if lace < 255:
                if data and not drop:
                    out.append(bytes(data))
                data, drop = bytearray(), False
        self.partial = data if page.lacing and page.lacing[-1] == 255 and not drop else None
        return out, missing


class OggDecoder(EncodedStreamDecoder):
    encoding = "ogg"

    def __init__(self, max_frame_bytes: int) -> None:
        super().__init__(max_frame_bytes)
        self._buf = bytearray()
        self._pages = 0
        self._in_sync = True
        self._stream: _LogicalStream | None = None
        self._skipped_codecs: list[str] = []

    def _consume(self, data: bytes) -> None:
        self._buf += data
        pos = 0
        while len(self._buf) - pos >= _PAGE_HEADER:
            if self._buf[pos : pos + 4] != _CAPTURE or self._buf[pos + 4] != 0:
                if not self._pages:
                    raise UndecodableAudio("not an Ogg stream: it must start with an OggS page")
                # resynchronise on the next capture pattern, as Ogg readers do; reported once per loss
                if self._in_sync:
                    self._recoverable("lost Ogg page sync; skipping to the next page")
                    self._in_sync = False
                found = self._buf.find(_CAPTURE, pos + 1)
                pos = found if found >= 0 else len(self._buf) - 3
                continue
            page = read_page(self._buf, pos)
            if page is None:
                break
            pos += _PAGE_HEADER + len(page.lacing) + len(page.body)
            self._pages += 1
            self._in_sync = True
            self._on_page(page)
        del self._buf[:pos]

    def _finish(self) -> None:
        stream = self._stream
        if stream is None:
            if self.bytes_fed:
                raise UndecodableAudio(self._no_audio_message())
            return
        if stream.ctx is None:
            raise UndecodableAudio(f"the Ogg stream ended inside its {stream.codec} headers")
        if not stream.ended:
            self._decode_packet(stream, None)

    def _no_audio_message(self) -> str:
        found = f" (found {', '.join(self._skipped_codecs)})" if self._skipped_codecs else ""
        return f"the Ogg stream carries no Opus or Vorbis audio{found}"

    def _on_page(self, page: OggPage) -> None:
        stream = self._stream
        # BOS pages of multiplexed streams all precede the first data page, so a BOS page
        # after our headers starts the next link of a chained stream (the old one is over)
        if page.flags & _BOS and (stream is None or stream.ended or stream.ctx is not None):
            if stream is not None and not stream.ended:
                self._decode_packet(stream, None)
                stream.ended = True
            codec = _identify(page.body)
            if codec in _HEADER_PACKETS:
                stream = self._stream = _LogicalStream(page.serial, codec)
            elif codec not in self._skipped_codecs:  # named once each: a stream may repeat them without end
                self._skipped_codecs.append(codec)
        if stream is None:
            if not page.flags & _BOS:
                raise UndecodableAudio(self._no_audio_message())
            return
        if page.serial != stream.serial or stream.ended:
            return  # another multiplexed stream (e.g. Skeleton metadata)
        packets, missing = stream.packets(page)
        if missing:
            self._recoverable("Ogg pages are missing; audio has a gap")
        if page.flags & _EOS:
            self._cut_end_padding(stream, page.granule)
        for packet in packets:
            if stream.ctx is None:
                self._on_header(stream, packet)
            else:
                self._decode_packet(stream, av.Packet(packet))
        if page.flags & _EOS and stream.ctx is not None:
            self._decode_packet(stream, None)
            stream.ended = True

    def _on_header(self, stream: _LogicalStream, packet: bytes) -> None:
        stream.headers.append(packet)
        if len(stream.headers) < _HEADER_PACKETS[stream.codec]:
            return
        ctx = av.Codec(stream.codec, "r").create("audio")
        if stream.codec == "opus":
            ctx.extradata = stream.headers[0]  # OpusHead: channels, pre-skip, channel mapping
            stream.pre_skip = struct.unpack_from("<H", stream.headers[0], 10)[0] if len(stream.headers[0]) >= 12 else 0
        else:
            ctx.extradata = xiph_lacing(stream.headers)
        try:
            ctx.open()
        except av.FFmpegError as exc:
            raise UndecodableAudio(f"the Ogg stream's {stream.codec} headers are invalid") from exc
        stream.ctx = ctx

    def _cut_end_padding(self, stream: _LogicalStream, granule: int) -> None:
        # the last page's granule position says where the audio ends inside its final packet;
        # a granule before what was already decoded is an encoder bug and is ignored
        end = granule - stream.pre_skip
        if granule >= 0 and end >= stream.trimmer.position:
            stream.trimmer.cut(end)

    def _decode_packet(self, stream: _LogicalStream, packet: av.Packet[Any] | None) -> None:
        if stream.ctx is None:
            return
        for frame in self._decode(stream.ctx, packet):
            self._emit(stream.trimmer.apply(frame_to_mono(frame)), frame.sample_rate)


def _identify(first_packet: bytes) -> str:
    for magic, name in (_CODECS | _UNSUPPORTED).items():
        if first_packet.startswith(magic):
            return name
    return "an unknown codec"
