"""Time to recover from a killed component, through the real Ray stack, on real speech.

Starts the e2e suite's app (``tests/serve_app.py``: Whisper base for finals, tiny.en for partials, two
ingress replicas, two session hosts) in a local Ray, then for each fault and run streams five read
sentences in real time through the Python client (which resumes by itself), kills the component by PID
(SIGKILL) mid-stream (``tests/faults.py`` says where), and records what the client saw:

* ``main`` (MainASR): how late the next final came after its utterance ended (normally ~0.1 s);
* ``realtime`` (RealtimeASR): the next partial after the kill;
* ``host`` (a session host actor) and ``ingress`` (the replica of the control socket): the resumed stream;
* every fault: when the killed process had a running successor and the app answered healthy.

Each run also checks the promise (one final per utterance, in order, stored as delivered) and says
when it is broken. Prints median and p95 and writes ``bench-results/faults-<label>.{json,md}``.

With ``--in-ingress`` the faults strike a second application beside it with the layout of
``serve_config.yaml`` instead: the sessions hosted in its one ingress replica (``hosts_in_ingress``;
no ``host`` fault there: killing the ingress kills the sessions' host).

    flock /tmp/rtstt-heavy.lock .venv/bin/python scripts/measure_faults.py --runs 3 --label cpu-2core
    flock /tmp/rtstt-heavy.lock .venv/bin/python scripts/measure_faults.py --in-ingress --faults ingress --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults import FAULTS, FaultRun, run_fault  # noqa: E402
from tests.serve_app import IN_INGRESS_ARGS, running_app, second_app  # noqa: E402
from tests.wer import wer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
IN_INGRESS_APP = "inhost"
WHAT = {
    "main": "next final, after its utterance ended",
    "realtime": "next partial",
    "host": "stream resumed",
    "ingress": "stream resumed",
}


def kept_promise(run: FaultRun) -> str:
    """'' when every utterance got exactly one final, in order, stored as delivered; else what broke."""
    if [f.seq for f in run.finals] != list(range(1, len(run.references) + 1)):
        return f"finals {[f.seq for f in run.finals]}"
    if any(wer(r, f.data.text) > 0.35 for r, f in zip(run.references, run.finals, strict=True)):
        return "a final does not match its utterance"
    if [(f["seq"], f["text"]) for f in run.stored] != [(f.seq, f.data.text) for f in run.finals]:
        return "stored differs from delivered"
    if run.errors:
        return f"errors {[e.code for e in run.errors]}"
    return ""


def quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


async def measure(url: str, faults: list[str], runs: int, *, in_ingress: bool = False) -> list[dict[str, Any]]:
    rows = []
    where = {"app": IN_INGRESS_APP, "ingress_replicas": 1} if in_ingress else {}
    for i in range(runs):
        for fault in faults:
            run = await run_fault(fault, url, SHARED, api_key="key-a", **where)
            row = {
                "fault": fault,
                "run": i + 1,
                "recovery_s": run.recovery_s(),
                "replaced_s": run.replaced_after,
                "resumes": sum(e.kind == "resumed" for e in run.events),
                "broken": kept_promise(run),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def report(rows: list[dict[str, Any]], faults: list[str], runs: int) -> str:
    lines = [
        "| component killed | client sees | recovery median / p95 (s) | replaced median / p95 (s) | promise kept |",
        "|---|---|---|---|---|",
    ]
    for fault in faults:
        mine = [r for r in rows if r["fault"] == fault]
        rec = quantiles([r["recovery_s"] for r in mine if r["recovery_s"] is not None])
        rep = quantiles([r["replaced_s"] for r in mine if r["replaced_s"] is not None])
        kept = sum(not r["broken"] for r in mine)
        lines.append(
            f"| {fault} | {WHAT[fault]} | {rec[0]:.2f} / {rec[1]:.2f} | {rep[0]:.1f} / {rep[1]:.1f} | {kept}/{runs} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of each fault (default 3)")
    ap.add_argument("--faults", default=",".join(FAULTS), help=f"some of {','.join(FAULTS)}")
    ap.add_argument("--in-ingress", action="store_true", help="the sessions hosted in the ingress (serve_config.yaml)")
    ap.add_argument("--label", default=None, help="default cpu-2core (cpu-2core-in-ingress with --in-ingress)")
    args = ap.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    if unknown := set(faults) - set(FAULTS):
        raise SystemExit(f"unknown faults: {', '.join(sorted(unknown))}")
    if args.in_ingress and "host" in faults:
        raise SystemExit(
            "--in-ingress: no host fault (the sessions' host is the ingress); --faults main,realtime,ingress"
        )
    label = args.label or ("cpu-2core-in-ingress" if args.in_ingress else "cpu-2core")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    began = time.time()
    with running_app() as url:
        if args.in_ingress:
            with second_app(url, IN_INGRESS_APP, IN_INGRESS_ARGS) as inhost:
                rows = asyncio.run(measure(inhost, faults, args.runs, in_ingress=True))
        else:
            rows = asyncio.run(measure(url, faults, args.runs))
    table = report(rows, faults, args.runs)
    print(table)
    out = ROOT / "bench-results" / f"faults-{label}"
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()}
    layout = " --in-ingress" if args.in_ingress else ""
    command = f"scripts/measure_faults.py{layout} --runs {args.runs} --faults {','.join(faults)}"
    meta = {"command": command, "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime(began)), "machine": machine}
    out.with_suffix(".json").write_text(json.dumps({**meta, "runs": rows}, indent=2) + "\n")
    out.with_suffix(".md").write_text(
        f"# Recovery from killed components\n\n`{command}`, {meta['started']} UTC, load {machine['load']}\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
