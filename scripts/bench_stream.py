"""The streaming benchmark: real speech, paced in real time, over N concurrent sessions.

Streams about a minute of real human speech with references (``shared/data``, see
:mod:`bench.corpus`) in 100 ms chunks paced like a microphone, over N concurrent sessions (starts
staggered by a random 0 to 1 s, fixed seed). With ``--speakers unison`` (the default) every session
sends the same stream, so their utterances end within a second of each other and every final of a
round is asked for at once (the worst case for the main model); with ``--speakers independent``
session i of N sends the same clips from clip i x 13 / N on (wrapping round), so its utterances end
when an independent speaker's would, with the same audio and words in all. Against a running
app (``--url``) or one started here (``--start-app``). For each N it reports word emission latency,
time to first partial, final latency, final WER (and the offline WER of the same model), CPU seconds
per audio second and peak memory of the Ray/Serve processes, and whether the N stayed real-time
(:data:`bench.scoring.REALTIME_RULE`); then the largest N that did. Writes ``<out>/<label>.json``
and ``<out>/<label>.md`` and prints the table.

    .venv/bin/python scripts/bench_stream.py --start-app --sessions 1,2,4
    .venv/bin/python scripts/bench_stream.py --url http://127.0.0.1:8000 --api-key "$KEY" --sessions 1,2,4,8
    .venv/bin/python scripts/bench_stream.py --start-app --options '{"vad": {"post_speech_silence": 0.4}}'

Against ``--url`` the CPU and memory figures are those of the Ray processes on this machine, so
run the benchmark on the service's host (``make serve`` starts one on port 8000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from bench import ROOT, features, local_app, speed
from bench.corpus import DEFAULT_MANIFEST, BenchStream, GroundTruth, build_stream, ground_truth
from bench.procs import ProcessSampler
from bench.report import machine, markdown
from bench.scoring import REALTIME_RULE, Lane, score_round
from bench.session import SessionPlan, SessionRecord, run_session

from app.client import SttClient
from app.transcript import SAMPLE_RATE

DEFAULT_KEY = "dev-key-change-me"
SETTLE_S = 2.0  # pause between rounds, so the previous sessions have closed
BURST_AFTER_S = 10.0  # the overload round's burst of new sessions comes this long after its first ones
EXTRA_TIMEOUT_S = 60.0  # a session may run this much longer than its audio before it counts as hung
SPEAKERS = ("unison", "independent")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", default="http://127.0.0.1:8000", help="a running app (default %(default)s)")
    target.add_argument("--start-app", action="store_true", help="start a local Ray + Serve app here and stop it")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("STT_API_KEY", DEFAULT_KEY),
        help="API key (default: $STT_API_KEY or the dev key); with --start-app it is the app's only added key",
    )
    parser.add_argument("--config", type=Path, default=local_app.DEFAULT_CONFIG, help="serve config for --start-app")
    parser.add_argument("--sessions", default="1,2,4", help="comma-separated N, run in turn (default %(default)s)")
    parser.add_argument(
        "--max-streams",
        type=int,
        default=None,
        help="with --start-app: the app's limits.max_streams instead of the config's (0: no limit, to measure "
        "what N the cores carry past the configured capacity)",
    )
    parser.add_argument(
        "--overload",
        default=None,
        metavar="N+M",
        help="then an overload round: N sessions as usual, and BURST_AFTER_S later M more at once "
        "(admission control should refuse them and keep the N's latency)",
    )
    parser.add_argument(
        "--speakers",
        choices=SPEAKERS,
        default="unison",
        help="unison: every session streams the same audio (their finals come in bursts); independent: each "
        "starts at another clip of the same stream (default %(default)s)",
    )
    parser.add_argument("--options", default="{}", help="session options as JSON (start_stream.options)")
    parser.add_argument("--label", default=time.strftime("stream-%Y%m%d-%H%M%S"), help="output file name")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results", help="output folder (default %(default)s)")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="clips and references")
    parser.add_argument("--chunk-ms", type=float, default=100.0, help="audio per chunk (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start stagger (default %(default)s)")
    parser.add_argument(
        "--warmup-s", type=float, default=5.0, help="an unmeasured session of this much audio first (0: none)"
    )
    parser.add_argument(
        "--dump-messages", action="store_true", help="also write every server message, timed, to <label>.messages.json"
    )
    parser.add_argument(
        "--features",
        default=None,
        help="'all' or some of " + ",".join(features.FEATURES) + ": one session with each feature off, on alone "
        "and all on; reports what each adds to the final latency (replaces --sessions)",
    )
    args = parser.parse_args(argv)
    try:
        args.feature_names = features.parse(args.features) if args.features else []
    except ValueError as exc:
        parser.error(f"--features: {exc}")
    try:
        args.session_counts = [int(n) for n in args.sessions.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--sessions {args.sessions!r}: expected comma-separated integers, e.g. 1,2,4")
    if not args.session_counts or min(args.session_counts) < 1:
        parser.error(f"--sessions {args.sessions!r}: every N must be at least 1")
    args.overload_counts = None
    if args.overload:
        try:
            base, extra = (int(x) for x in args.overload.split("+"))
        except ValueError:
            parser.error(f"--overload {args.overload!r}: expected N+M, e.g. 8+8")
        args.overload_counts = (base, extra)
    try:
        args.session_options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        parser.error(f"--options is not JSON: {exc}")
    if not isinstance(args.session_options, dict):
        parser.error("--options must be a JSON object")
    return args


# ---------------------------------------------------------------------------- rounds


def lanes_for(stream: BenchStream, truth: GroundTruth, speakers: str, n: int, burst: int = 0) -> list[Lane]:
    """What each session of a round streams: all the same stream (unison), or session i of n the
    stream rotated to start at clip i x clips / n (independent; the burst's sessions likewise)."""
    if speakers == "unison":
        return [(stream, truth)] * (n + burst)
    clips = len(stream.clips)
    firsts = [i * clips // n for i in range(n)] + [i * clips // max(burst, 1) for i in range(burst)]
    lanes: list[Lane] = []
    for first in firsts:
        rotated = stream.rotated(first)
        lanes.append((rotated, truth if rotated is stream else truth.moved(stream, rotated)))
    return lanes


async def run_round(
    url: str,
    api_key: str,
    n: int,
    lanes: list[Lane],
    args: argparse.Namespace,
    *,
    own_ray: bool,
    burst: int = 0,
) -> tuple[list[SessionRecord], dict[str, Any], float]:
    """``n`` sessions with a random 0-1 s stagger; with ``burst``, that many more at once
    :data:`BURST_AFTER_S` later (the overload round). Session i streams ``lanes[i]``."""
    client = SttClient(url, api_key=api_key)
    rng = random.Random(args.seed * 1000 + n)
    timeout = max(stream.duration_s for stream, _ in lanes) + EXTRA_TIMEOUT_S
    opts = args.session_options
    pcms = [stream.pcm() for stream, _ in lanes]
    plans = [SessionPlan(i, rng.uniform(0.0, 1.0), pcms[i], args.chunk_ms, opts, timeout) for i in range(n)]
    plans += [
        SessionPlan(n + i, BURST_AFTER_S + 0.01 * i, pcms[n + i], args.chunk_ms, opts, timeout) for i in range(burst)
    ]
    started = time.perf_counter()
    with ProcessSampler(root_pid=os.getpid() if own_ray else None) as sampler:
        records = await asyncio.gather(*(run_session(client, plan) for plan in plans))
    return list(records), sampler.result(), time.perf_counter() - started


async def warm_up(url: str, api_key: str, pcm: bytes, args: argparse.Namespace) -> None:
    """One short unmeasured session: the first session's one-off costs stay out of the N=1 figures."""
    cut = int(args.warmup_s * SAMPLE_RATE) * 2  # PCM16 mono
    plan = SessionPlan(0, 0.0, pcm[:cut], args.chunk_ms, args.session_options, args.warmup_s + EXTRA_TIMEOUT_S)
    record = await run_session(SttClient(url, api_key=api_key), plan)
    if record.error:
        raise SystemExit(f"warm-up session failed: {record.error}")


def round_result(
    lanes: list[Lane], records: list[SessionRecord], procs: dict[str, Any], wall_s: float
) -> dict[str, Any]:
    """Scored over the sessions that ran; the ones admission control refused are counted apart."""
    ran = [(lane, r) for lane, r in zip(lanes, records, strict=True) if r.refused is None]
    admitted = [r for _, r in ran]
    score = score_round([lane for lane, _ in ran], admitted)
    audio_s = sum(r.audio_s for r in admitted)
    return {
        **asdict(score),
        "attempted": len(records),
        "refused": len(records) - len(admitted),
        "refused_codes": sorted({r.refused for r in records if r.refused}),
        "cpu_s_per_audio_s": round(procs["cpu_s"] / audio_s, 3) if audio_s else None,
        "audio_s": round(audio_s, 3),
        "wall_s": round(wall_s, 3),
        "procs": procs,
        "session_details": [r.summary() for r in records],
    }


def stream_info(stream: BenchStream, chunk_ms: float) -> dict[str, Any]:
    return {
        "digest": stream.digest(),
        "duration_s": round(stream.duration_s, 3),
        "speech_s": round(sum(c.duration_s for c in stream.clips), 3),
        "chunk_ms": chunk_ms,
        "clips": [
            {"id": c.id, "start_s": round(c.start_s, 3), "duration_s": round(c.duration_s, 3)} for c in stream.clips
        ],
        "reference": stream.reference,
    }


def command_line() -> str:
    exe = sys.executable
    if exe.startswith(str(ROOT)):
        exe = os.path.relpath(exe, ROOT)
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return shlex.join([exe, script, *sys.argv[1:]]).replace(_key_arg(), "--api-key ***")


def _key_arg() -> str:
    if "--api-key" in sys.argv[:-1]:
        return "--api-key " + shlex.quote(sys.argv[sys.argv.index("--api-key") + 1])
    return "\0"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S %z")
    stream = build_stream(args.manifest)
    log(f"stream: {stream.duration_s:.1f} s, {len(stream.clips)} clips, digest {stream.digest()}")
    truth = ground_truth(stream, args.out)
    log(
        f"ground truth: {len(truth.words)} words, offline WER {100 * truth.offline_wer:.1f}%"
        + (f" ({truth.seconds:.1f} s)" if truth.seconds else " (cached)")
    )
    pcm = stream.pcm()
    probe = speed.probe(stream)
    log(f"machine speed: {probe['what']}: {probe['cpu_ms']}")
    app: local_app.LocalApp | None = None
    url = args.url
    try:
        if args.start_app:
            log("starting a local Ray + Serve app ...")
            most = max([*args.session_counts, sum(args.overload_counts or (0,))])
            app = local_app.start(args.config, args.api_key, most, max_streams=args.max_streams)
            url = app.url
            log(f"app ready at {url}")
        else:
            _check_reachable(url)
        if args.warmup_s > 0:
            asyncio.run(warm_up(url, args.api_key, pcm, args))
        rounds: list[dict[str, Any]] = []
        dumps: dict[int, list[list[dict[str, Any]]]] = {}
        feature_rows: list[dict[str, Any]] = []
        if args.feature_names:

            def one_session(options: dict[str, Any]) -> dict[str, Any]:
                args.session_options = options
                lanes = [(stream, truth)]
                records, procs, wall_s = asyncio.run(
                    run_round(url, args.api_key, 1, lanes, args, own_ray=app is not None)
                )
                time.sleep(SETTLE_S)
                return round_result(lanes, records, procs, wall_s)

            feature_rows = features.compare(one_session, args.session_options, args.feature_names, log)
        plan = [] if args.feature_names else [(n, 0) for n in args.session_counts]
        if args.overload_counts and not args.feature_names:
            plan.append(args.overload_counts)
        for n, burst in plan:
            what = f"{n} session(s)" + (f", then {burst} more at once after {BURST_AFTER_S:g} s" if burst else "")
            log(f"N={n}: streaming {stream.duration_s:.0f} s to {what} ...")
            lanes = lanes_for(stream, truth, args.speakers, n, burst)
            records, procs, wall_s = asyncio.run(
                run_round(url, args.api_key, n, lanes, args, own_ray=app is not None, burst=burst)
            )
            rounds.append(round_result(lanes, records, procs, wall_s))
            if burst:
                rounds[-1]["overload"] = f"{n}+{burst}"
            if args.dump_messages:
                dumps[n + burst] = [
                    [{"at": round(t.at, 4), **t.msg.model_dump(mode="json")} for t in r.messages] for r in records
                ]
            _log_round(rounds[-1])
            time.sleep(SETTLE_S)
    finally:
        if app is not None:
            local_app.stop()
    passing = [r["sessions"] for r in rounds if r["realtime"] and not r["refused"]]
    result: dict[str, Any] = {
        "label": args.label,
        "command": command_line(),
        "started_at": started_at,
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine() | {"speed": probe},
        "target": app.describe() if app is not None else {"url": url},
        "options": args.session_options,
        "speakers": args.speakers,
        "seed": args.seed,
        "stream": stream_info(stream, args.chunk_ms),
        "ground_truth": {k: v for k, v in truth.to_json().items() if k != "words"} | {"words": len(truth.words)},
        "realtime_rule": REALTIME_RULE,
        "largest_realtime_sessions": max(passing, default=0),
        "rounds": rounds,
    }
    if feature_rows:
        result["features"] = feature_rows
    args.out.mkdir(parents=True, exist_ok=True)
    table = features.markdown(feature_rows, result) if feature_rows else markdown(result)
    (args.out / f"{args.label}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (args.out / f"{args.label}.md").write_text(table)
    if args.dump_messages:
        (args.out / f"{args.label}.messages.json").write_text(json.dumps(dumps) + "\n")
    print(table)
    log(f"wrote {args.out / args.label}.json and .md")
    return 0


def _log_round(r: dict[str, Any]) -> None:
    refused = f" ({r['refused']} of {r['attempted']} refused: {', '.join(r['refused_codes'])})" if r["refused"] else ""
    log(
        f"N={r['sessions']}{refused}: word emission median {r['word_emission']['median']} s "
        f"p95 {r['word_emission']['p95']} s, final median {r['final']['median']} s, WER {r['wer']}, "
        f"CPU/audio {r['cpu_s_per_audio_s']}, "
        f"real-time {'yes' if r['realtime'] else 'no: ' + '; '.join(r['not_realtime_because'])}"
    )


def _check_reachable(url: str) -> None:
    try:
        httpx.get(url.rstrip("/") + "/healthz", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        hint = "start the app (make serve) or use --start-app"
        raise SystemExit(f"{url} is not answering /healthz ({exc}); {hint}") from None


if __name__ == "__main__":
    sys.exit(main())
