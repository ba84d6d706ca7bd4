"""Writes the audio seeds of ``tests/fuzz/corpus/audio`` (``python -m tests.fuzz.make_corpus``): pieces
of the real seed clip's encodings, damaged on purpose, and the inputs that found defects.

The files are committed; this script says where each came from and remakes them if the list changes
(it overwrites only the files it names). ``corpus/README.md`` describes each one.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tests.compat_audio import g711
from tests.fuzz.seeds import CORPUS, SEED_CLIP, seed_audio, seed_stream

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def flipped(data: bytes, positions: list[int], seed: int = 7) -> bytes:
    out = bytearray(data)
    rng = np.random.default_rng(seed)
    for pos in positions:
        out[pos % len(out)] ^= 1 << int(rng.integers(8))
    return bytes(out)


def wav_header(tag: int, channels: int, rate: int, bits: int, *, extensible_of: int | None = None) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    if extensible_of is not None:
        fmt += struct.pack("<HHIH", 22, bits, 3, extensible_of) + bytes(14)
    return b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data\xff\xff\xff\xff"


def ogg_page(flags: int, serial: int, sequence: int, body: bytes, granule: int = 0) -> bytes:
    lacing = bytes([255] * (len(body) // 255) + [len(body) % 255])
    header = b"OggS\x00" + bytes([flags]) + struct.pack("<qIII", granule, serial, sequence, 0)
    return header + bytes([len(lacing)]) + lacing + body


def first_frame_bytes(mp3: bytes) -> int:
    """The length of the stream's first MPEG frame (LAME writes its Xing/Info frame there)."""
    import av

    return len(bytes(av.Codec("mp3float", "r").create("audio").parse(mp3)[0]))


def cases() -> dict[str, bytes]:
    rng = np.random.default_rng(13)
    pcm = (np.clip(seed_audio(SHARED), -1, 1) * 32767).astype("<i2").tobytes()
    wav, ogg, vorbis, mp3 = (seed_stream(SHARED, n) for n in ("wav", "ogg", "ogg-vorbis", "mp3"))
    bad_floats = np.array([np.nan, np.inf, -np.inf, 1e30, -3e38, 0.5], "<f4")
    bad_doubles = np.array([np.nan, 1e300, -1e300, np.inf, 0.25, -0.25], "<f8")
    unknown_bos = ogg_page(0xFE, 1, 0, b"")  # what the page fuzzing found: 200 times, one codec name each
    return {
        # raw PCM and G.711
        "pcm_s16le/odd-frames-c3201": pcm[16000 : 16000 + 3201 * 4],
        "pcm_s16le/oversized-c9000": pcm[16000:34000],
        "pcm_s16le/tiny-frames-c6": pcm[20000:20360],
        "pcm_mulaw/noise-c160": rng.bytes(8000),
        "pcm_mulaw/speech-odd-c333": g711(pcm[16000:48000], "mulaw")[:3330],
        "pcm_alaw/noise-odd-c7": rng.bytes(420),
        # wav
        "wav/header-alone-c44": wav[:44],
        "wav/truncated-fmt": wav[:30],
        "wav/bitflipped-header": flipped(wav[:4096], list(range(20, 40, 3))),
        "wav/data-before-fmt": b"RIFF\xff\xff\xff\xffWAVEdata\x10\x00\x00\x00" + bytes(16) + wav[12:44],
        "wav/list-chunk-huge-size": b"RIFF\xff\xff\xff\xffWAVELIST\xf0\xff\xff\xff" + rng.bytes(16000),
        # float samples that are NaN, infinite or far past full scale (found by the decoder fuzzing)
        "wav/float32-nan-inf-c1000": wav_header(3, 2, 16000, 32) + np.tile(bad_floats, 600).tobytes(),
        "wav/float64-huge": wav_header(3, 1, 16000, 64) + np.tile(bad_doubles, 300).tobytes(),
        "wav/extensible-float-nan": wav_header(0xFFFE, 1, 16000, 32, extensible_of=3)
        + np.tile(bad_floats, 300).tobytes(),
        # ogg
        "ogg/first-pages-c100": ogg[:8000],
        "ogg/bitflipped-pages": flipped(ogg[:16000], list(range(0, 16000, 397))),
        "ogg/unknown-codec-repeated": unknown_bos * 200 + ogg_page(0, 1, 1, b"audio?"),
        "ogg/opus-head-255-channels": ogg_page(2, 1, 0, b"OpusHead\x01\xff\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
        + ogg_page(0, 1, 1, b"OpusTags" + bytes(8))
        + ogg_page(0, 1, 2, rng.bytes(200), granule=960),
        "ogg/vorbis-truncated-headers": vorbis[:3000],
        "ogg/lost-sync": ogg[:6000] + rng.bytes(3000) + ogg[6000:12000],
        # mp3
        "mp3/first-frames-c100": mp3[:6000],
        "mp3/bitflipped": flipped(mp3[:16000], list(range(0, 16000, 211))),
        "mp3/id3-huge-size": b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + mp3[:8000],
        "mp3/xing-frame-alone": mp3[: first_frame_bytes(mp3)],
        "mp3/sync-patterns-in-noise": b"".join(b"\xff\xfb\x90\x64" + rng.bytes(300) for _ in range(110)),
    }


def main() -> None:
    assert SEED_CLIP and SHARED.exists(), SHARED
    for name, data in cases().items():
        path = CORPUS / "audio" / f"{name}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path.relative_to(CORPUS)}: {len(data)} bytes")


if __name__ == "__main__":
    main()
