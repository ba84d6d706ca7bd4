"""The pre-recorded benchmark: one long file through ``POST /v1/listen`` (Deepgram's pre-recorded API).

Builds a file of ``--minutes`` of real speech (the streaming benchmark's 55.6 s stream of clips with
references, repeated), posts it as one WAV upload ``--runs`` times to a running app (``--url``) or
one started here (``--start-app``, ``serve_config.yaml``'s settings), and reports per run the wall
time, the real-time factor (audio seconds per wall second), CPU seconds of the Ray/Serve processes
per audio second, and the pooled WER of the transcript against the references; medians and p95 over
the runs. Writes ``<out>/prerecorded-<label>.{json,md}``.

    .venv/bin/python scripts/bench_prerecorded.py --start-app --minutes 10 --runs 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from bench import ROOT, local_app
from bench.corpus import DEFAULT_MANIFEST, build_stream
from bench.procs import ProcessSampler
from bench.report import machine

from tests.wer import wer

API_KEY = "bench-prerecorded-key"


def wav_file(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _flags(args: argparse.Namespace) -> str:
    shown = {k: v for k, v in vars(args).items() if v not in (None, False) and k not in ("api_key", "out")}
    return " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in shown.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app; else --start-app")
    parser.add_argument("--start-app", action="store_true")
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="cpu-2core-tiny-en")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args()
    if not args.url and not args.start_app:
        parser.error("give --url or --start-app")
    stream = build_stream(DEFAULT_MANIFEST)
    repeats = max(1, round(args.minutes * 60 / stream.duration_s))
    audio = np.tile(stream.audio, repeats)
    data = wav_file(audio)
    reference = " ".join([stream.reference] * repeats)
    audio_s = len(audio) / 16000
    app = local_app.start(local_app.DEFAULT_CONFIG, args.api_key, 1) if args.start_app else None
    url = app.url if app else args.url
    runs: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=url, timeout=3600) as http:
            for _ in range(args.runs):
                with ProcessSampler(root_pid=os.getpid() if app else None) as sampler:
                    t0 = time.monotonic()
                    response = http.post(
                        "/v1/listen?utterances=true&punctuate=true",
                        content=data,
                        headers={"Authorization": f"Token {args.api_key}", "Content-Type": "audio/wav"},
                    )
                    wall = time.monotonic() - t0
                response.raise_for_status()
                body = response.json()
                text = body["results"]["channels"][0]["alternatives"][0]["transcript"]
                cpu = sampler.result()["cpu_s"]
                runs.append(
                    {
                        "wall_s": round(wall, 2),
                        "realtime_factor": round(audio_s / wall, 1),
                        "cpu_s_per_audio_s": round(cpu / audio_s, 3),
                        "wer": round(wer(reference, text), 4),
                        "utterances": len(body["results"]["utterances"]),
                    }
                )
                print(json.dumps(runs[-1]))
    finally:
        if app:
            local_app.stop()
    walls = [r["wall_s"] for r in runs]
    summary = {
        "command": "scripts/bench_prerecorded.py " + _flags(args),
        "machine": machine(),
        "audio_s": round(audio_s, 1),
        "upload_mb": round(len(data) / 2**20, 1),
        "runs": runs,
        "wall_s_median": statistics.median(walls),
        "wall_s_p95": p95(walls),
        "realtime_factor_median": round(audio_s / statistics.median(walls), 1),
        "app": app.describe() if app else {"url": url},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"prerecorded-{args.label}.json").write_text(json.dumps(summary, indent=2))
    table = "\n".join(
        [
            f"# Pre-recorded: {summary['audio_s']} s of speech in one upload ({summary['upload_mb']} MB)",
            "",
            f"`{summary['command']}`",
            "",
            "| run | wall (s) | real-time factor | CPU s / audio s | WER | utterances |",
            "|---|---|---|---|---|---|",
            *(
                f"| {i} | {r['wall_s']} | {r['realtime_factor']}x | {r['cpu_s_per_audio_s']} | {r['wer']:.1%} | "
                f"{r['utterances']} |"
                for i, r in enumerate(runs, 1)
            ),
            "",
            f"median wall {summary['wall_s_median']} s (p95 {summary['wall_s_p95']} s): "
            f"{summary['realtime_factor_median']}x real time",
        ]
    )
    (args.out / f"prerecorded-{args.label}.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
