"""The soak: real speech over a few concurrent sessions for a long while, with reconnects, bad frames, pauses,
silence and session restarts mixed in; do latency and memory stay flat, and is nothing lost?

Each of ``--sessions`` lanes streams the benchmark stream (``shared/data``, :mod:`bench.corpus`), looped, in
100 ms chunks paced in real time, for ``--minutes``, and does one event about every ``--event-every-s``
seconds of speech on a fixed-seed schedule (:mod:`bench.soak_plan`, :mod:`bench.soak_lane`). Reported
(:mod:`bench.soak_score`): word emission and final latency median/p95 per ``--slice-minutes`` slice; RSS
and PSS of every Ray/Serve process idle at the start, under load every slice, idle at the end, with the
growth; errors and warnings by code, those the injected bad frames asked for apart from the unexpected;
each session's finals as delivered against its stored transcript (REST); and a verdict against printed
thresholds. Writes ``<out>/soak-<label>.json`` and ``.md``; exits 1 when the verdict fails.

    make soak                                                    # 30 min, 4 sessions, its own app
    .venv/bin/python scripts/soak.py --start-app --minutes 3 --sessions 2 --slice-minutes 1
    .venv/bin/python scripts/soak.py --url http://127.0.0.1:8000 --api-key "$KEY"

Against ``--url`` the memory figures are those of every Ray process on this machine: run it on the
service's host, with nothing else on Ray.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench import ROOT, local_app
from bench.corpus import DEFAULT_MANIFEST, build_stream, ground_truth
from bench.procs import ProcessSampler
from bench.report import machine
from bench.session import SessionPlan, run_session
from bench.soak_lane import Lane, LanePlan, soak_client
from bench.soak_plan import SessionRun
from bench.soak_report import markdown
from bench.soak_score import (
    Thresholds,
    error_table,
    finals_table,
    latencies,
    memory_table,
    slice_count,
    verdict,
    verdict_line,
)
from bench_stream import DEFAULT_KEY, command_line, log

from app.client import SttClient
from app.heap import PERIODIC_TRIM_INTERVAL_S
from app.transcript import SAMPLE_RATE

#: idle memory is what a replica holds once it has given back what it freed (app/heap.py): a model
#: engine trims within ENGINE_TRIM_INTERVAL_S of its last call, an ingress replica or session host
#: every PERIODIC_TRIM_INTERVAL_S from its 10 s health check. A snapshot taken sooner reads a
#: replica's working set under load or after its trim by chance (5 s did: MainASR read 340 MB at
#: the end of a soak whose load snapshots were 313-335 MB).
SETTLE_S = PERIODIC_TRIM_INTERVAL_S + 10.0
#: the end also gets a snapshot this soon after the last session, untrimmed, for comparison
EARLY_IDLE_S = 5.0


@dataclass
class SoakConfig:
    minutes: float = 30.0
    sessions: int = 4
    slice_minutes: float = 5.0
    event_every_s: float = 20.0
    seed: int = 0
    chunk_ms: float = 100.0
    options: dict[str, Any] = field(default_factory=dict)
    settle_s: float = SETTLE_S  # idle wait before the first and the last memory snapshot


@dataclass
class SoakRun:
    runs: list[SessionRun]
    snapshots: list[dict[str, Any]]
    cpu: dict[str, Any]
    wall_s: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", default="http://127.0.0.1:8000", help="a running app (default %(default)s)")
    target.add_argument("--start-app", action="store_true", help="start a local Ray + Serve app here and stop it")
    parser.add_argument("--api-key", default=os.environ.get("STT_API_KEY", DEFAULT_KEY), help="API key")
    parser.add_argument("--config", type=Path, default=local_app.DEFAULT_CONFIG, help="serve config for --start-app")
    parser.add_argument("--minutes", type=float, default=30.0, help="soak length (default %(default)s)")
    parser.add_argument("--sessions", type=int, default=4, help="concurrent streams (default %(default)s)")
    parser.add_argument("--slice-minutes", type=float, default=5.0, help="report slice (default %(default)s)")
    parser.add_argument(
        "--event-every-s", type=float, default=20.0, help="mean seconds of speech between events (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the event schedule (default %(default)s)")
    parser.add_argument("--options", default="{}", help="session options as JSON (start_stream.options)")
    parser.add_argument(
        "--warmup-s", type=float, default=30.0, help="unmeasured sessions of this much audio first (0: none)"
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=SETTLE_S,
        help="idle wait before the first and the last memory snapshot (default %(default)s: every heap trimmed)",
    )
    parser.add_argument("--max-latency-drift-s", type=float, default=Thresholds.latency_drift_s)
    parser.add_argument("--max-growth-mb", type=float, default=Thresholds.memory_growth_mb)
    parser.add_argument("--label", default=time.strftime("%Y%m%d-%H%M%S"), help="writes soak-<label>.json/.md")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results", help="output folder (default %(default)s)")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="clips and references")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.sessions < 1 or args.slice_minutes <= 0 or args.event_every_s <= 0:
        parser.error("--minutes, --slice-minutes and --event-every-s must be positive, --sessions at least 1")
    try:
        args.session_options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        parser.error(f"--options is not JSON: {exc}")
    if not isinstance(args.session_options, dict):
        parser.error("--options must be a JSON object")
    return args


# ---------------------------------------------------------------------------- the run


async def run_soak(url: str, api_key: str, pcm: bytes, config: SoakConfig, *, root_pid: int | None) -> SoakRun:
    """The lanes, with memory snapshots: idle before, every slice under load, idle after ``settle_s``.
    ``root_pid``: count only that process's Ray descendants (an app started in this process)."""
    loop = asyncio.get_running_loop()
    origin = loop.time()

    def now() -> float:
        return loop.time() - origin

    duration_s, slice_s = config.minutes * 60.0, config.slice_minutes * 60.0
    client = soak_client(url, api_key)
    rng = random.Random(config.seed)
    snapshots: list[dict[str, Any]] = []
    with ProcessSampler(root_pid=root_pid, interval_s=5.0, pss_every=12) as sampler:

        async def snapshot(phase: str) -> None:
            processes = await asyncio.to_thread(sampler.memory_per_process)
            snapshots.append({"at_min": round(now() / 60.0, 2), "phase": phase, "processes": processes})

        async def every_slice() -> None:
            for i in range(1, slice_count(duration_s, slice_s)):
                await asyncio.sleep(max(0.0, i * slice_s - now()))
                await snapshot("load")

        async def lane(index: int, delay_s: float) -> list[SessionRun]:
            await asyncio.sleep(delay_s)
            plan = LanePlan(pcm, duration_s, config.event_every_s, config.seed, config.chunk_ms, dict(config.options))
            return await Lane(client, index, plan, now).run()

        await asyncio.sleep(config.settle_s)  # the warm-up session's end, as the lanes' end below
        await snapshot("idle")
        origin = loop.time()  # the soak's clock starts with the lanes
        snapshots[0]["at_min"] = 0.0
        periodic = asyncio.create_task(every_slice(), name="soak-memory")
        try:
            lanes = await asyncio.gather(*(lane(i, rng.uniform(0.0, 1.0)) for i in range(config.sessions)))
        finally:
            periodic.cancel()
            await asyncio.gather(periodic, return_exceptions=True)
        wall_s = now()
        if config.settle_s > EARLY_IDLE_S:  # what an idle snapshot read before the replicas' trims
            await asyncio.sleep(EARLY_IDLE_S)
            await snapshot(f"idle {EARLY_IDLE_S:g} s")
        await asyncio.sleep(config.settle_s - (EARLY_IDLE_S if config.settle_s > EARLY_IDLE_S else 0.0))
        await snapshot("idle")
    return SoakRun([run for runs in lanes for run in runs], snapshots, sampler.result(), wall_s)


def score(soak: SoakRun, config: SoakConfig, truth: Any, thresholds: Thresholds) -> dict[str, Any]:
    """The figures and the verdict; latency only with a ground truth."""
    slices = slice_count(config.minutes * 60.0, config.slice_minutes * 60.0)
    result: dict[str, Any] = {
        "latency": None if truth is None else latencies(soak.runs, truth, config.slice_minutes * 60.0, slices),
        "errors": error_table(soak.runs),
        "finals": finals_table(soak.runs),
        "memory": memory_table(soak.snapshots),
        "cpu": soak.cpu,
        "events": dict(sum((r.events for r in soak.runs), Counter())),
        "wall_s": round(soak.wall_s, 1),
        "sessions": [r.summary() for r in soak.runs],
    }
    result["verdict"] = verdict(result, thresholds)
    return result


async def warm_up(url: str, api_key: str, pcm: bytes, seconds: float, sessions: int) -> None:
    """``sessions`` unmeasured sessions at once, as many as the soak runs: one-off costs (first calls, the
    models' buffers for concurrent batches) stay out of the first slice and the start snapshot."""
    client = SttClient(url, api_key=api_key)
    audio = pcm[: int(seconds * SAMPLE_RATE) * 2]
    plans = [SessionPlan(i, 0.2 * i, audio, 100.0, {}, seconds + 60.0) for i in range(sessions)]
    records = await asyncio.gather(*(run_session(client, plan) for plan in plans))
    if failed := [r.error for r in records if r.error]:
        raise SystemExit(f"warm-up session failed: {failed[0]}")


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = SoakConfig(
        minutes=args.minutes,
        sessions=args.sessions,
        slice_minutes=args.slice_minutes,
        event_every_s=args.event_every_s,
        seed=args.seed,
        options=args.session_options,
        settle_s=args.settle_s,
    )
    thresholds = Thresholds(args.max_latency_drift_s, args.max_growth_mb)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S %z")
    stream = build_stream(args.manifest)
    truth = ground_truth(stream, args.out)
    pcm = stream.pcm()
    log(f"stream: {stream.duration_s:.1f} s looped; {len(truth.words)} timed words")
    app: local_app.LocalApp | None = None
    url = args.url
    try:
        if args.start_app:
            log("starting a local Ray + Serve app ...")
            app = local_app.start(args.config, args.api_key, args.sessions)
            url = app.url
        else:
            _check_reachable(url)
        if args.warmup_s > 0:
            log(f"warming up: {config.sessions} sessions of {args.warmup_s:g} s ...")
            asyncio.run(warm_up(url, args.api_key, pcm, args.warmup_s, config.sessions))
        log(f"soaking {url}: {config.sessions} sessions for {config.minutes:g} min ...")
        soak = asyncio.run(run_soak(url, args.api_key, pcm, config, root_pid=os.getpid() if app is not None else None))
    finally:
        if app is not None:
            local_app.stop()
    result = {
        "label": args.label,
        "command": command_line(),
        "started_at": started_at,
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "target": app.describe() if app is not None else {"url": url},
        "config": asdict(config),
        "stream": {"digest": stream.digest(), "duration_s": round(stream.duration_s, 3)},
        **score(soak, config, truth, thresholds),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / f"soak-{args.label}"
    Path(f"{base}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    report = markdown(result)
    Path(f"{base}.md").write_text(report)
    print(report)
    log(verdict_line(result["verdict"]))
    log(f"wrote {base}.json and .md")
    return 0 if result["verdict"]["pass"] else 1


def _check_reachable(url: str) -> None:
    try:
        httpx.get(url.rstrip("/") + "/healthz", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise SystemExit(
            f"{url} is not answering /healthz ({exc}); start the app (make serve) or use --start-app"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
