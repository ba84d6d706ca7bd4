"""The whole app's memory at idle, per process: RSS and PSS of every Ray and Serve process.

Starts the app of ``serve_config.yaml`` in a local Ray (as ``make bench`` does, the config's
``deployments:`` overrides applied), waits until it has settled, and prints RSS and PSS summed by
process (PSS splits shared pages between the processes that map them, so its sum counts Ray's and
the models' shared libraries once). With ``--session FEATURES`` it then runs one short session with
those features on (``diarization,sentiment,topics``) and measures again: what a feature's first
use loads. Writes ``bench-results/memory-<label>.json``.

    .venv/bin/python scripts/measure_memory.py --label idle-after
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import local_app  # noqa: E402
from bench.procs import ProcessSampler  # noqa: E402

KEY = "memory-bench-key"
FEATURES = {
    "diarization": {"speaker_diarization": True},
    "sentiment": {"sentiment_analysis": {"enabled": True}},
    "topics": {"topic_detection": {"enabled": True}},
}


def table(memory: dict[str, dict[str, float]]) -> tuple[str, float, float]:
    lines = [f"{'process':28s} {'n':>3} {'RSS MB':>8} {'PSS MB':>8}  malloc"]
    for label, row in memory.items():
        malloc = "jemalloc" if row.get("jemalloc") == row["processes"] else f"jemalloc {int(row.get('jemalloc', 0))}"
        malloc = "libc" if not row.get("jemalloc") else malloc
        lines.append(f"{label:28s} {int(row['processes']):>3} {row['rss_mb']:>8.0f} {row['pss_mb']:>8.0f}  {malloc}")
    rss = sum(r["rss_mb"] for r in memory.values())
    pss = sum(r["pss_mb"] for r in memory.values())
    lines.append(f"{'total':28s} {'':>3} {rss:>8.0f} {pss:>8.0f}")
    return "\n".join(lines), rss, pss


async def one_session(url: str, features: dict[str, object]) -> int:
    from app.audio.files import load_audio, to_pcm16
    from app.client import SttClient

    pcm = to_pcm16(load_audio(ROOT.parent / "shared/data/clips/jfk.flac"))
    async with SttClient(url, api_key=KEY, client_id=local_app.CLIENT_ID).stream(options={"features": features}) as s:
        await s.send_pcm(pcm + bytes(32000), realtime=False)
        finals = await s.finish()
    return len(finals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="now")
    ap.add_argument("--config", type=Path, default=local_app.DEFAULT_CONFIG)
    ap.add_argument("--settle-s", type=float, default=20.0, help="idle seconds before measuring")
    ap.add_argument("--session", default="", help="comma-separated features for a session after the idle reading")
    args = ap.parse_args()
    app = local_app.start(args.config, KEY, max_sessions=2)
    config = args.config.resolve()
    shown = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
    result: dict[str, object] = {"label": args.label, "config": str(shown)}
    try:
        sampler = ProcessSampler(root_pid=os.getpid())
        time.sleep(args.settle_s)
        text, rss, pss = table(sampler.memory_by_process())
        print(f"idle, {args.settle_s:g} s after start:\n{text}")
        result["idle"] = {"by_process": sampler.memory_by_process(), "rss_mb": round(rss), "pss_mb": round(pss)}
        if args.session:
            features: dict[str, object] = {}
            for name in args.session.split(","):
                features.update(FEATURES[name])
            finals = asyncio.run(one_session(app.url, features))
            time.sleep(3.0)
            text, rss, pss = table(sampler.memory_by_process())
            print(f"\nafter one session with {args.session} ({finals} finals):\n{text}")
            result["after_session"] = {
                "features": args.session,
                "by_process": sampler.memory_by_process(),
                "rss_mb": round(rss),
                "pss_mb": round(pss),
            }
    finally:
        local_app.stop()
    out = ROOT / "bench-results" / f"memory-{args.label}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
