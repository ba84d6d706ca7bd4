"""How fast this machine is right now: the CPU time of one realtime-model call, measured in the
benchmark's own process before the app starts.

The machines this runs on are shared virtual machines whose speed drifts (the same tiny.en call
took 54 ms of CPU at one hour and 69 at another on the same 2-core machine): a benchmark run
carries this figure, so that two runs are compared at the same speed or not at all.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from app.transcript import SAMPLE_RATE
from bench.corpus import BenchStream

CALLS = 15
AUDIO_S = 2.0
SETTINGS: dict[str, Any] = {
    "model": "tiny.en",
    "compute_type": "int8",
    "window": "trimmed",
    "window_padding_s": 3.0,
    "cpu_threads": 1,
    "num_workers": 1,
}


def probe(stream: BenchStream) -> dict[str, Any]:
    """Median CPU milliseconds of a tiny.en call (the realtime model's settings, one thread) on the
    first :data:`AUDIO_S` of the stream's first clip."""
    from app.config import ModelSettings
    from app.engines import WhisperEngine
    from app.transcript import TranscribeRequest

    first = round(stream.clips[0].start_s * SAMPLE_RATE)
    request = TranscribeRequest(audio=stream.audio[first : first + round(AUDIO_S * SAMPLE_RATE)])
    with WhisperEngine(ModelSettings(**SETTINGS)) as engine:
        engine.transcribe(request)  # the first call pays one-off costs
        costs = []
        for _ in range(CALLS):
            started = time.process_time()
            engine.transcribe(request)
            costs.append(time.process_time() - started)
    return {
        "what": f"tiny.en int8 call on {AUDIO_S:g} s of speech, one thread, CPU ms (median of {CALLS})",
        "cpu_ms": round(1000 * statistics.median(costs), 1),
    }
