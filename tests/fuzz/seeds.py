"""Seed inputs: the real clip every seed stream is made of, and the corpus in ``tests/fuzz/corpus``
(small files replayed in every run; its README says what each one is).

``corpus/messages/*.txt``: one text frame each. ``corpus/audio/<encoding>/<name>.bin``: one stream
each, in a session of that encoding (raw G.711 at 8 kHz, everything else at its defaults), sent as
frames of 4096 bytes, or of N bytes when the name ends in ``-c<N>``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.files import load_audio
from tests.encoding import FORMATS, encode

CORPUS = Path(__file__).parent / "corpus"
#: the clip every real seed stream is made of (3 s of speech, one utterance)
SEED_CLIP = "sb_spk1_snt3.wav"
#: the encoded formats of the seed streams (tests/encoding.py's names), by a short name
SEED_FORMATS = {"wav": "wav-s16", "wav-float": "wav-f32", "ogg": "ogg-opus", "ogg-vorbis": "ogg-vorbis", "mp3": "mp3"}
_CHUNK = re.compile(r"-c(\d+)$")


@functools.cache
def seed_audio(shared_data: Path) -> np.ndarray:
    """The seed clip with silence around it, so that its one utterance gets its final."""
    mono = load_audio(shared_data / "clips" / SEED_CLIP)
    return np.concatenate([np.zeros(8000, np.float32), mono, np.zeros(24000, np.float32)])


@functools.cache
def seed_stream(shared_data: Path, name: str) -> bytes:
    """The seed clip encoded as ``name`` (a key of :data:`SEED_FORMATS`), stereo as files usually are."""
    mono = seed_audio(shared_data)
    return encode(np.stack([mono, mono]), 16000, FORMATS[SEED_FORMATS[name]])


@dataclass(frozen=True)
class AudioSeed:
    path: Path

    @property
    def encoding(self) -> str:
        return self.path.parent.name

    @property
    def id(self) -> str:
        return f"{self.encoding}/{self.path.stem}"

    def frames(self) -> list[bytes]:
        match = _CHUNK.search(self.path.stem)
        chunk = int(match[1]) if match else 4096
        data = self.path.read_bytes()
        return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def audio_seeds() -> list[AudioSeed]:
    return [AudioSeed(path) for path in sorted((CORPUS / "audio").glob("*/*.bin"))]


def message_seeds() -> list[Path]:
    return sorted((CORPUS / "messages").glob("*.txt"))


@functools.cache
def seed_bytes(encoding: str) -> list[bytes]:
    """The corpus streams of one encoding, as starting points for the mutation strategies."""
    return [s.path.read_bytes() for s in audio_seeds() if s.encoding == encoding]
