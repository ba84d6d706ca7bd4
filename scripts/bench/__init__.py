"""Helpers of ``scripts/bench_stream.py``, the streaming benchmark.

Modules: ``corpus`` (the benchmark stream and its offline ground truth), ``session`` (one paced
session through the client library, every message timed), ``scoring`` (latencies and WER from
those timings), ``procs`` (CPU and memory of the Ray/Serve processes), ``local_app`` (an
in-process Ray + Serve app), ``report`` (JSON, markdown, machine description).

The soak (``scripts/soak.py``) reuses them and adds ``soak_plan`` (its event schedule and session records),
``soak_lane`` (one stream's sessions and events), ``soak_score`` (figures and verdict) and ``soak_report``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# tests/wer.py holds the project's one WER normalisation; the scripts score with it too
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
