"""A model engine's memory levels off under windows of every length (app/engines/memory.py, app/heap.py).

The realtime model's requests have a different length nearly every call (the tail after the
committed words, with the trimmed window's padding). Before oneDNN's per-shape primitive cache was
turned off, tiny.en's RSS grew by ~1 MB a call for hundreds of calls; now it stays within what the
allocator keeps. The bound is generous: it separates a plateau from that growth, nothing finer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.audio.files import load_audio
from app.config import ModelSettings
from app.engines import WhisperEngine
from app.heap import HeapTrimmer
from app.transcript import SAMPLE_RATE, Audio, TranscribeRequest

CLIPS = ("jfk.flac", "sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "two_cities.wav", "LDC93S1.wav")
WARM_CALLS = 80
MEASURED_CALLS = 240
#: growth allowed over the measured calls (without the fix: ~150 MB over as many calls)
MAX_GROWTH_MB = 50.0


def rss_mb() -> float:
    """This process's resident memory, after the C heap gave back what it holds free."""
    HeapTrimmer().run()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture(scope="module")
def speech(shared_data: Path) -> Audio:
    return np.concatenate([load_audio(shared_data / "clips" / name) for name in CLIPS]).astype(np.float32)


@pytest.fixture(scope="module")
def engine() -> Iterator[WhisperEngine]:
    # the realtime model as serve_config.yaml runs it: tiny.en, trimmed window, two calls at once
    settings = ModelSettings(model="tiny.en", window="trimmed", window_padding_s=5.0, num_workers=2, cpu_threads=1)
    with WhisperEngine(settings) as loaded:
        yield loaded


def run_calls(engine: WhisperEngine, speech: Audio, n: int, rng: random.Random) -> None:
    for _ in range(n // 2):
        batch = []
        for _ in range(2):
            length = round(rng.uniform(0.3, 8.0) * SAMPLE_RATE)
            at = rng.randrange(0, speech.shape[0] - length)
            batch.append(TranscribeRequest(audio=speech[at : at + length], initial_prompt=rng.choice((None, "And so"))))
        engine.transcribe_batch(batch)


@pytest.mark.model
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_rss_levels_off_over_calls_of_varying_length(engine: WhisperEngine, speech: Audio) -> None:
    rng = random.Random(0)
    run_calls(engine, speech, WARM_CALLS, rng)  # the working set: buffers, tokenizers, the first shapes
    before = rss_mb()
    run_calls(engine, speech, MEASURED_CALLS, rng)
    growth = rss_mb() - before
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.0f} MB over {MEASURED_CALLS} calls after {WARM_CALLS}"
