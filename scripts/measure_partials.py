"""CPU per partial call against utterance length: does a partial cost more as its utterance grows?

Streams long real speech (default: the 44 s continuous LibriVox reading ``two_cities.wav`` and jfk)
through the session core in-process, paced in real time in 100 ms chunks, with the real realtime
model; records every realtime request the session makes (its audio and prompt); then replays each
recorded request alone, serially, measuring the process CPU time of the call (valid on a busy
machine: nothing else runs in this process meanwhile). Prints, by the utterance's length when the
call was made, the median CPU seconds a call and the median seconds of audio a call decoded, and
writes ``bench-results/partials-<label>.json``.

    .venv/bin/python scripts/measure_partials.py --label after
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import protocol as p  # noqa: E402
from app.audio.files import load_audio, to_pcm16  # noqa: E402
from app.config import ModelSettings, ServerSettings  # noqa: E402
from app.engines import WhisperEngine, WhisperTranscriber  # noqa: E402
from app.options import parse_session_options  # noqa: E402
from app.session.controller import StreamSession  # noqa: E402
from app.session.ports import Ports  # noqa: E402
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript  # noqa: E402

CLIPS = ("moonshine_two_cities", "jfk")
BIN_S = 2.0


@dataclass
class Call:
    utterance_s: float  # the utterance's length when the call was made
    audio_s: float  # audio the call decoded
    prompt_chars: int
    cpu_s: float = 0.0
    wall_s: float = 0.0


class Recording:
    """The realtime port: calls the engine and records each request, with the length its utterance
    had then, for the replay."""

    def __init__(self, engine: WhisperEngine) -> None:
        self.inner = WhisperTranscriber(engine)
        self.requests: list[tuple[TranscribeRequest, float]] = []
        self.position = lambda: 0.0

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        self.requests.append((request, self.position()))
        return await self.inner.transcribe(request)


async def stream(
    path: Path, settings: ServerSettings, realtime: Recording, main: WhisperTranscriber, options: dict[str, object]
) -> list[p.ServerMessage]:
    out: list[p.ServerMessage] = []
    utterance_start = [0.0]

    async def emit(msg: p.ServerMessage) -> None:
        out.append(msg)
        if isinstance(msg, p.SpeechStarted):
            utterance_start[0] = msg.audio_start

    session = StreamSession(
        "measure", settings=settings, ports=Ports(realtime=realtime, main=main), emit=emit, enforce_realtime=False
    )
    realtime.position = lambda: session.audio_seconds - utterance_start[0]
    await session.handle(p.StartStream(options=parse_session_options(options)))
    pcm = to_pcm16(load_audio(path))
    step = SAMPLE_RATE * 2 // 10
    t0 = time.monotonic()
    for i, offset in enumerate(range(0, len(pcm), step)):
        await asyncio.sleep(max(0.0, t0 + i * 0.1 - time.monotonic()))
        await session.feed(pcm[offset : offset + step])
    await session.handle(p.StopStream())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="now")
    ap.add_argument("--config", type=Path, default=ROOT / "serve_config.yaml", help="realtime model settings")
    ap.add_argument("--options", default='{"vad": {"max_utterance": 15}}', help="session options (JSON)")
    args = ap.parse_args()
    import yaml

    config = yaml.safe_load(args.config.read_text())["applications"][0]["args"]["settings"]
    rt_settings = ModelSettings.model_validate({**config["realtime_model"], "niceness": 0})
    settings = ServerSettings(realtime_model=rt_settings, main_model=ModelSettings.model_validate(config["main_model"]))
    engine = WhisperEngine(rt_settings)
    main_engine = WhisperEngine(settings.main_model)
    manifest = {c["id"]: c for c in json.loads((ROOT.parent / "shared/data/manifest.json").read_text())}
    calls: list[Call] = []
    for clip in CLIPS:
        recording = Recording(engine)
        messages = asyncio.run(
            stream(
                ROOT.parent / "shared/data" / manifest[clip]["file"],
                settings,
                recording,
                WhisperTranscriber(main_engine),
                json.loads(args.options),
            )
        )
        utterances = sum(1 for m in messages if isinstance(m, p.SpeechStarted))
        partials = sum(1 for m in messages if isinstance(m, p.PartialResult))
        print(f"{clip}: {len(recording.requests)} realtime calls, {partials} partials, {utterances} utterances")
        for request, utterance_s in recording.requests:
            started, wall = time.process_time(), time.perf_counter()
            engine.transcribe(request)
            cpu, wall = time.process_time() - started, time.perf_counter() - wall
            calls.append(
                Call(utterance_s, len(request.audio) / SAMPLE_RATE, len(request.initial_prompt or ""), cpu, wall)
            )
    bins: dict[int, list[Call]] = {}
    for call in calls:
        bins.setdefault(int(call.utterance_s // BIN_S), []).append(call)
    rows = []
    print(f"\n{'utterance (s)':>14} {'calls':>6} {'audio a call (s)':>17} {'CPU a call (s)':>15} {'p95 CPU':>8}")
    for b in sorted(bins):
        group = bins[b]
        cpu = sorted(c.cpu_s for c in group)
        row = {
            "utterance_s": f"{b * BIN_S:g}-{(b + 1) * BIN_S:g}",
            "calls": len(group),
            "audio_s_median": round(statistics.median(c.audio_s for c in group), 2),
            "cpu_s_median": round(statistics.median(cpu), 4),
            "cpu_s_p95": round(cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))], 4),
        }
        rows.append(row)
        print(
            f"{row['utterance_s']:>14} {row['calls']:>6} {row['audio_s_median']:>17} "
            f"{row['cpu_s_median']:>15} {row['cpu_s_p95']:>8}"
        )
    total = sum(c.cpu_s for c in calls)
    print(f"\n{len(calls)} calls, {total:.2f} CPU s in all")
    out = ROOT / "bench-results" / f"partials-{args.label}.json"
    summary = {"label": args.label, "clips": CLIPS, "rows": rows, "calls": len(calls), "cpu_s": round(total, 3)}
    out.write_text(json.dumps(summary, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
