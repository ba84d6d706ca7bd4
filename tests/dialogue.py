"""Reference turns of the two-voice dialogue clip (``clips/endgame_nagg_nell.wav``).

The clip was synthesised line by line with a pause of digital silence between lines
(moonshine's ``scripts/generate-diarization-test-audio.py``: 14 lines, 0.55 s pauses,
voices alternating, male first). Its turns are therefore the stretches between runs of
exact zero samples of at least 0.3 s, read at the file's own 24 kHz.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def dialogue_turns(path: Path) -> list[tuple[float, float]]:
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    silent = np.concatenate([[False], x == 0, [False]])
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    gaps = [(s, e) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= 0.3 * rate]
    bounds = [0, *[v for g in gaps for v in g], len(x)]
    return [(bounds[i] / rate, bounds[i + 1] / rate) for i in range(0, len(bounds), 2)]
