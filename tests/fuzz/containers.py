"""Hypothesis strategies for audio containers built field by field: Ogg pages, RIFF/WAVE chunks, MPEG
frames and their tags. Random bytes rarely get past a container's first checks; these do."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

# --------------------------------------------------------------------------- container structure

#: the first bytes of Ogg packets: the codecs' headers (decoded or only named) and audio
_OGG_STARTS = [
    b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00",
    b"OpusHead\x01\xff\x00\x00",
    b"OpusTags\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x01vorbis\x00\x00\x00\x00\x02\x44\xac\x00\x00",
    b"\x03vorbis",
    b"\x05vorbis",
    b"\x7fFLAC",
    b"Speex   ",
    b"fishead\x00",
    b"",
]


@st.composite
def ogg_page(draw: st.DrawFn) -> bytes:
    """One Ogg page with a drawn header (flags, granule, serial, sequence) around a drawn packet."""
    flags = draw(st.sampled_from([0, 1, 2, 4, 6, 5, 3]) | st.integers(0, 255))
    granule = draw(st.sampled_from([0, -1, 960, 48000, 2**63 - 1]) | st.integers(-(2**63), 2**63 - 1))
    serial = draw(st.sampled_from([1, 2, 0xFFFFFFFF]))
    sequence = draw(st.integers(0, 5) | st.integers(0, 2**32 - 1))
    body = draw(st.sampled_from(_OGG_STARTS)) + draw(st.binary(max_size=600))
    lacing = bytes([255] * (len(body) // 255) + [len(body) % 255])
    if draw(st.booleans()):  # a packet that goes on in the next page
        lacing, body = lacing[:-1], body[: 255 * (len(lacing) - 1)]
    header = b"OggS\x00" + bytes([flags]) + struct.pack("<qIII", granule, serial, sequence, 0)
    return header + bytes([len(lacing)]) + lacing + body


@st.composite
def ogg_stream(draw: st.DrawFn) -> bytes:
    """Drawn pages, now and then one of them repeated many times (a stream that never gets anywhere)."""
    pages = draw(st.lists(ogg_page(), min_size=1, max_size=12))
    index, times = draw(st.integers(0, len(pages) - 1)), draw(st.sampled_from([1, 1, 2, 50, 200]))
    return b"".join(pages[:index] + [pages[index]] * times + pages[index + 1 :])


@st.composite
def wav_stream(draw: st.DrawFn) -> bytes:
    """A RIFF header of drawn chunks (fmt with any tag, channels, rate and bits; sizes true or not), then samples."""
    tag = draw(st.sampled_from([1, 3, 0xFFFE, 2, 0]) | st.integers(0, 0xFFFF))
    channels = draw(st.sampled_from([1, 2, 0, 33]) | st.integers(0, 0xFFFF))
    rate = draw(st.sampled_from([8000, 16000, 44100, 999, 384001]) | st.integers(0, 2**32 - 1))
    bits = draw(st.sampled_from([8, 16, 24, 32, 64, 0, 12]) | st.integers(0, 0xFFFF))
    fmt = struct.pack(
        "<HHIIHH", tag, channels, rate, rate * channels * bits // 8 % 2**32, channels * bits // 8 % 2**16, bits
    )
    if tag == 0xFFFE:
        fmt += struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", draw(st.sampled_from([1, 3, 7]))) + bytes(14)
    fmt = fmt[: draw(st.sampled_from([len(fmt), len(fmt), 14, 0]))]
    chunks = [(b"fmt ", fmt)]
    for _ in range(draw(st.integers(0, 2))):
        chunks.insert(
            draw(st.integers(0, len(chunks))),
            (draw(st.sampled_from([b"LIST", b"fact", b"JUNK", b"\x00\x00\x00\x00"])), draw(st.binary(max_size=40))),
        )
    body = b""
    for cid, data in chunks:
        size = draw(st.sampled_from([len(data), len(data), 0, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1))
        body += cid + struct.pack("<I", size) + data + b"\x00" * (len(data) & 1)
    samples = draw(st.binary(max_size=4000)) + draw(st.sampled_from([b"", b"\x00\x00\xc0\x7f" * 64, b"\xff" * 256]))
    data_size = draw(st.sampled_from([len(samples), 0, 0xFFFFFFFF, 3]))
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + body + b"data" + struct.pack("<I", data_size) + samples


@st.composite
def mp3_stream(draw: st.DrawFn) -> bytes:
    """MPEG audio frame headers with drawn fields, a Xing/Info frame with a LAME tag, an ID3v2 tag of any size."""
    out = b""
    if draw(st.booleans()):
        size = draw(st.integers(0, 2**28 - 1))
        out += b"ID3\x04\x00" + bytes([draw(st.sampled_from([0, 0x10]))])
        out += bytes([(size >> s) & 0x7F for s in (21, 14, 7, 0)]) + draw(st.binary(max_size=200))
    for _ in range(draw(st.integers(1, 20))):
        header = bytes([0xFF, draw(st.integers(0xE0, 0xFF)), draw(st.integers(0, 255)), draw(st.integers(0, 255))])
        body = draw(st.binary(max_size=700))
        if draw(st.integers(0, 4)) == 0:
            tag = draw(st.sampled_from([b"Xing", b"Info"])) + struct.pack(">I", draw(st.integers(0, 15)))
            tag += draw(st.binary(min_size=0, max_size=120)) + draw(st.sampled_from([b"LAME", b"Lavf", b"XXXX"]))
            body = bytes(32) + tag + draw(st.binary(min_size=24, max_size=40))
        out += header + body
    return out
