"""Streaming MP3 decoding: PyAV's MPEG audio parser cuts the bytes into frames, its decoder decodes them."""

from __future__ import annotations

import struct
from typing import Any

import av

from app.audio.encoded import EncodedStreamDecoder, SampleTrimmer, frame_to_mono
from app.errors import UndecodableAudio

# MPEG frames are at most ~2.9 KB; this many bytes without a decodable one means the stream is not MP3
# (random bytes do contain frame sync patterns, so "a frame was parsed" is not enough)
_SYNC_LIMIT = 32 * 1024
# samples the MP3 decoder itself adds before the encoder's delay (FFmpeg's mp3 demuxer counts the same)
_DECODER_DELAY = 529
# gapless info is trusted only from encoders known to write it correctly (as FFmpeg does)
_GAPLESS_ENCODERS = (b"LAME", b"Lavf", b"Lavc")


def id3v2_size(head: bytes) -> int | None:
    """Bytes of the ID3v2 tag at the start of ``head`` (0 when there is none); None if more bytes are needed."""
    if len(head) < 10:
        return None if b"ID3".startswith(head[:3]) else 0
    if head[:3] != b"ID3":
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def gapless_cuts(frame: bytes) -> list[tuple[int, int]] | None:
    """For a Xing/Info frame (which holds no audio): the decoder-output ranges to drop.

    The LAME tag inside records the encoder delay and the padding of the last frame.
    Returns None when ``frame`` is an ordinary audio frame.
    """
    if len(frame) < 4:
        return None
    mpeg1 = (frame[1] >> 3) & 3 == 3
    mono = frame[3] >> 6 == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    pos = 4 + side_info
    if frame[pos : pos + 4] not in (b"Xing", b"Info") or len(frame) < pos + 8:
        return None
    flags = struct.unpack_from(">I", frame, pos + 4)[0]
    pos += 8
    frames = None
    if flags & 1 and len(frame) >= pos + 4:
        frames = struct.unpack_from(">I", frame, pos)[0]
    # skip the frame count, byte count, seek table and quality fields that are present
    pos += 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    # LAME extension: 9-byte encoder name, then 12 bytes of other fields, then delay and padding (12 bits each)
    if len(frame) < pos + 24 or frame[pos : pos + 4] not in _GAPLESS_ENCODERS:
        return []
    delay_padding = int.from_bytes(frame[pos + 21 : pos + 24], "big")
    delay, padding = delay_padding >> 12, delay_padding & 0xFFF
    cuts = [(0, delay + _DECODER_DELAY)]
    if frames:
        total = frames * (1152 if mpeg1 else 576)
        cuts.append((total - padding + _DECODER_DELAY, total))
    return cuts


class Mp3Decoder(EncodedStreamDecoder):
    encoding = "mp3"

    def __init__(self, max_frame_bytes: int) -> None:
        super().__init__(max_frame_bytes)
        self._ctx = av.Codec("mp3float", "r").create("audio")  # float output keeps full precision
        self._head = b""  # the first bytes, until we know whether an ID3v2 tag starts the stream
        self._tag_left: int | None = None  # tag bytes still to skip; None while unknown
        self._frames = 0
        self._decoded_frames = 0
        self._unsynced = 0  # bytes parsed before the first frame decoded
        self._trimmer = SampleTrimmer()

    def _consume(self, data: bytes) -> None:
        if self._tag_left is None:
            # the parser does not skip ID3v2 tags, and album art in them can look like frames
            self._head += data
            size = id3v2_size(self._head)
            if size is None:
                return
            data, self._head, self._tag_left = self._head, b"", size
        if self._tag_left:
            skipped = min(self._tag_left, len(data))
            data, self._tag_left = data[skipped:], self._tag_left - skipped
        if data:
            self._parse(data)

    def _finish(self) -> None:
        if self._head:
            self._tag_left = 0
            self._parse(self._head)
        self._parse(None)
        self._decode_frames(None)
        if self.bytes_fed and not self._decoded_frames:
            raise UndecodableAudio("no MP3 audio found in the stream")

    def _parse(self, data: bytes | None) -> None:
        packets = self._ctx.parse(data)
        if not self._decoded_frames and data is not None:
            self._unsynced += len(data)
            if self._unsynced > _SYNC_LIMIT:
                raise UndecodableAudio(f"no MP3 audio found in the first {self._unsynced} bytes")
        for packet in packets:
            self._frames += 1
            if self._frames == 1:
                cuts = gapless_cuts(bytes(packet))
                if cuts is not None:  # the Info frame is silence that encoders prepend
                    for start, end in cuts:
                        self._trimmer.cut(start, end)
                    continue
            self._decode_frames(packet)

    def _decode_frames(self, packet: av.Packet[Any] | None) -> None:
        for frame in self._decode(self._ctx, packet):
            self._decoded_frames += 1
            self._emit(self._trimmer.apply(frame_to_mono(frame)), frame.sample_rate)
