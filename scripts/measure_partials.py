"""Partials measured without a clock: what each one costs, and when each word is first shown.

Streams the benchmark's stream (``bench.corpus``: 13 real clips, word times from the cached offline
transcription) and, with ``--long``, 44 s of continuous reading (two_cities) through the session
core in-process with the real realtime and main models. Time is the audio's own: after every
100 ms chunk the session's partial calls are awaited before the next chunk (so the model always
keeps up), and a partial asked after ``--interval-s`` of new audio, as the scheduler would at that
load. So the figures are the same on a busy machine and a quiet one, and two strategies can be
compared word for word: ``--full`` re-transcribes each utterance from its start (as before
tail-only partials), the default decodes only the tail after the committed words.

Reports: per call, the process CPU seconds (each request replayed alone, serially) by the
utterance's length when it was made; per word, the audio time from its end to its first
appearance in a partial (or the final); words no partial ever showed; and the pooled WER of the
finals. Writes ``bench-results/partials-<label>.json``.

    .venv/bin/python scripts/measure_partials.py --label tail
    .venv/bin/python scripts/measure_partials.py --label full --full
    .venv/bin/python scripts/measure_partials.py --label one-pass --first-pass none
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench.corpus import build_stream, ground_truth  # noqa: E402
from bench.scoring import TOLERANCE_S  # noqa: E402

from app import protocol as p  # noqa: E402
from app.audio.files import load_audio, to_pcm16  # noqa: E402
from app.config import ModelSettings, ServerSettings, main_model_defaults  # noqa: E402
from app.engines import WhisperEngine, WhisperTranscriber  # noqa: E402
from app.options import parse_session_options  # noqa: E402
from app.session.controller import StreamSession  # noqa: E402
from app.session.ports import Ports  # noqa: E402
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript  # noqa: E402
from tests.wer import normalize, pooled_wer  # noqa: E402

BIN_S = 2.0
CHUNK = SAMPLE_RATE // 10


@dataclass
class Call:
    utterance_s: float
    audio_s: float
    cpu_s: float = 0.0


class Recording:
    """The realtime port: calls the engine, and records each request with its utterance's length then."""

    def __init__(self, engine: WhisperEngine) -> None:
        self.inner = WhisperTranscriber(engine)
        self.requests: list[tuple[TranscribeRequest, float]] = []
        self.position = lambda: 0.0

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        self.requests.append((request, self.position()))
        return await self.inner.transcribe(request)


async def stream(
    audio: np.ndarray, settings: ServerSettings, realtime: Recording, main: WhisperTranscriber
) -> list[tuple[float, p.ServerMessage]]:
    """Every message with the audio time (s) it was emitted at."""
    out: list[tuple[float, p.ServerMessage]] = []
    utterance_start = [0.0]
    now = [0.0]

    async def emit(msg: p.ServerMessage) -> None:
        out.append((now[0], msg))
        if isinstance(msg, p.SpeechStarted):
            utterance_start[0] = msg.audio_start

    session = StreamSession(
        "measure", settings=settings, ports=Ports(realtime=realtime, main=main), emit=emit, enforce_realtime=False
    )
    realtime.position = lambda: session.audio_seconds - utterance_start[0]
    await session.handle(p.StartStream(options=parse_session_options({})))
    pcm = to_pcm16(audio)
    for offset in range(0, len(pcm), CHUNK * 2):
        now[0] = (offset // 2 + CHUNK) / SAMPLE_RATE
        await session.feed(pcm[offset : offset + CHUNK * 2])
        for _ in range(50):  # the calls the chunk started, and the ones their answers start
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if not pending:
                break
            await asyncio.sleep(0.005)
    await session.handle(p.StopStream())
    return out


def emission(truth_words: list, messages: list[tuple[float, p.ServerMessage]]) -> tuple[list[float], int, int]:
    """Per truth word: audio seconds from its end to its first showing; words no partial showed; never shown."""
    shown: dict[str, list[tuple[float, float, float, bool]]] = {}
    for at, msg in messages:
        if isinstance(msg, p.PartialResult | p.FinalResult):
            final = isinstance(msg, p.FinalResult)
            for w in msg.data.words:
                for key in normalize(w.word).split():
                    shown.setdefault(key, []).append((at, w.start, w.end, final))
    delays, final_only, never = [], 0, 0
    for word in truth_words:
        lo, hi = word.start_s - TOLERANCE_S, word.end_s + TOLERANCE_S
        first = next(((at, final) for at, s, e, final in shown.get(word.key, ()) if s <= hi and e >= lo), None)
        if first is None:
            never += 1
            continue
        delays.append(max(0.0, first[0] - word.end_s))
        final_only += first[1]
    return delays, final_only, never


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", default="now")
    ap.add_argument("--full", action="store_true", help="re-transcribe each utterance from its start (the old way)")
    ap.add_argument("--interval-s", type=float, default=0.2, help="audio between partial requests (default 0.2)")
    ap.add_argument("--long", action="store_true", help="also the 44 s continuous reading (costs by length)")
    ap.add_argument("--padding-s", type=float, default=None, help="the realtime model's window_padding_s")
    ap.add_argument("--context-words", type=int, default=None, help="committed words a tail call hears again")
    ap.add_argument(
        "--first-pass",
        default=None,
        help="the realtime model's first_pass_tokens_per_s ('none': one pass at the full cap; default: the config's)",
    )
    args = ap.parse_args()
    import yaml

    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())["applications"][0]["args"]["settings"]
    rt = ModelSettings.model_validate({**config["realtime_model"], "niceness": 0, "num_workers": 1})
    if args.padding_s is not None:
        rt = rt.model_copy(update={"window_padding_s": args.padding_s})
    if args.first_pass is not None:
        first_pass = None if args.first_pass.lower() == "none" else float(args.first_pass)
        rt = rt.model_copy(update={"first_pass_tokens_per_s": first_pass})
    if args.context_words is not None:
        import app.streaming.tail as tail_module

        tail_module.CONTEXT_WORDS = args.context_words
    settings = ServerSettings(
        realtime_model=rt,
        main_model=main_model_defaults().model_copy(update={"num_workers": 1}),
        partial_min_interval_s=args.interval_s,
        partial_max_interval_s=args.interval_s,
        partials_tail_only=not args.full,
    )
    engine, main_model = WhisperEngine(rt), WhisperTranscriber(WhisperEngine(settings.main_model))
    bench = build_stream()
    truth = ground_truth(bench, ROOT / "bench-results")
    inputs = [("bench stream", bench.audio)]
    if args.long:
        inputs.append(("two_cities", load_audio(ROOT.parent / "shared/data/clips/two_cities.wav")))
    calls: list[Call] = []
    result: dict[str, object] = {
        "label": args.label,
        "full": args.full,
        "interval_s": args.interval_s,
        "padding_s": rt.window_padding_s,
        "context_words": args.context_words,
        "first_pass_tokens_per_s": rt.first_pass_tokens_per_s,
    }
    for name, audio in inputs:
        recording = Recording(engine)
        messages = asyncio.run(stream(audio, settings, recording, main_model))
        finals = [m for _, m in messages if isinstance(m, p.FinalResult)]
        partials = sum(isinstance(m, p.PartialResult) for _, m in messages)
        line = f"{name}: {len(recording.requests)} calls, {partials} partials, {len(finals)} finals"
        if name == "bench stream":
            delays, final_only, never = emission(list(truth.words), messages)
            wer = pooled_wer([(bench.reference, " ".join(f.data.text for f in finals))])
            word_stats = {
                "words": len(truth.words),
                "median_s": round(statistics.median(delays), 3),
                "p95_s": round(float(np.percentile(delays, 95)), 3),
                "shown_only_by_the_final": final_only,
                "never_shown": never,
                "final_wer": round(wer, 4),
            }
            result["word_emission_audio_time"] = word_stats
            line += (
                f"; word shown after its end (audio time) median {word_stats['median_s']} s, "
                f"p95 {word_stats['p95_s']} s; only by the final {final_only}, never {never} of "
                f"{len(truth.words)}; final WER {100 * wer:.1f}%"
            )
        print(line)
        for request, utterance_s in recording.requests:
            started = time.process_time()
            engine.transcribe(request)
            calls.append(Call(utterance_s, len(request.audio) / SAMPLE_RATE, time.process_time() - started))
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
    result |= {"rows": rows, "calls": len(calls), "cpu_s": round(total, 3)}
    out = ROOT / "bench-results" / f"partials-{args.label}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
