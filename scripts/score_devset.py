"""The diarization figures of the README: every recording of the conversation dev set
(``scripts/diar/devset.py``: real multi-speaker recordings, telephone calls assembled from real
clips, single voices) streamed through the app as a live client does, one at a time, in real time,
and scored by ``scripts/score_diarization.py`` (pyannote.metrics). With ``--baseline NAME``, that
recording is streamed again with diarization off: the latency diarization adds to a final.

    flock /tmp/rtstt-heavy.lock .venv/bin/python scripts/score_devset.py --start-app \\
        --baseline call_sb_pair --baseline pyaudioanalysis_diarizationExample --json bench-results/diarization.json

``--start-app`` runs ``serve_config.yaml`` in a local Ray of this process (as ``make bench``); without
it, ``--url`` and ``--api-key`` name a running app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from diar.devset import ROOT, dev_set
from score_diarization import Report, score

API_KEY = "devset-key"


def table(rows: list[tuple[str, str, Report]]) -> str:
    out = [
        "| recording | set | kind | speakers (found) | DER collar 0 | DER collar 0.25 | JER | finals of one speaker "
        "| speaker_change ends | diarization latency median / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tuning, kind, r in rows:
        lat = (
            f"{r.latency_median_s * 1000:.0f} / {(r.latency_p95_s or 0) * 1000:.0f} ms"
            if r.latency_median_s is not None
            else "—"
        )
        if r.baseline_latency_median_s is not None:
            lat += f" (off: {r.baseline_latency_median_s * 1000:.0f} / {(r.baseline_latency_p95_s or 0) * 1000:.0f} ms)"
        out.append(
            f"| {r.recording} | {tuning} | {kind} | {r.speakers_reference} ({r.speakers_found}) | "
            f"{r.der_collar0:.1%} | {r.der_collar025:.1%} | {r.jer:.1%} | {r.one_speaker_finals}/{r.finals} | "
            f"{r.end_reasons.get('speaker_change', 0)} | {lat} |"
        )
    return "\n".join(out)


async def wake(url: str, api_key: str, wav: Path) -> None:
    """One short diarized session first: the Diarizer scales to zero, and the first recording must not
    pay for its start (a service in use has it awake; a session that wakes it is slower at first)."""
    from app.client import SttClient

    options = {"features": {"speaker_diarization": True, "interim_results": False}}
    async with SttClient(url, api_key=api_key).stream(options=options) as s:
        await s.send_file(wav, realtime=False)
        await s.stop()
        async for _ in s:
            pass


async def run(
    url: str, api_key: str, baseline: set[str], speed: float, only: list[str] | None
) -> list[tuple[str, str, Report]]:
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="rtstt-devset-"))
    await wake(url, api_key, ROOT.parent / "shared" / "data" / "clips" / "sb_spk1_snt1.wav")
    for rec in dev_set():
        if only and rec.name not in only:
            continue
        wav, rttm = rec.write(folder)
        report = await score(wav, rttm, url=url, api_key=api_key, speed=speed, baseline=rec.name in baseline)
        print(f"{rec.name}: DER {report.der_collar025:.1%} (collar 0.25), {report.speakers_found} speakers", flush=True)
        rows.append(("tuning" if rec.tuning else "report", rec.kind, report))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start-app", action="store_true", help="run serve_config.yaml in a local Ray first")
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--api-key", default="dev-key-change-me")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--baseline", action="append", default=[], help="a recording to stream again without diarization")
    ap.add_argument("--only", action="append", help="recordings to score (names)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    url, key = args.url, args.api_key
    if args.start_app:
        from bench import local_app

        app = local_app.start(local_app.DEFAULT_CONFIG, API_KEY, max_sessions=2)
        url, key = app.url, API_KEY
    try:
        rows = asyncio.run(run(url, key, set(args.baseline), args.speed, args.only))
    finally:
        if args.start_app:
            local_app.stop()
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([{"set": s, "kind": k, **asdict(r)} for s, k, r in rows], indent=1))


if __name__ == "__main__":
    main()
