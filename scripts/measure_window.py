"""Whisper's full 30 s window against the trimmed window (docs/architecture.md §5), on this machine.

For every clip in ``shared/data/manifest.json`` with ``use_for_wer: true``: text
equality with the full window, WER against the reference, and per-call latency;
then the thread/worker split with concurrent callers, and the stacked batch.

    .venv/bin/python scripts/measure_window.py [--model tiny.en] [--paddings 10,5,2] [--repeats 2]

WER normalisation: lower case, punctuation dropped, every digit spelled as its own
word ("803" → "eight zero three") and "oh" next to a digit word read as "zero",
because the vosk clip's reference spells its digit strings as words.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.config import ModelSettings
from app.engines import WhisperEngine, whisper_window
from app.transcript import SAMPLE_RATE, Audio, TranscribeRequest, Transcript

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "manifest.json"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SHORT_CLIP_S = 4.0


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Clip:
    id: str
    audio: Audio
    reference: str

    @property
    def seconds(self) -> float:
        return float(self.audio.shape[0] / SAMPLE_RATE)


def load_clip(path: Path) -> Audio:
    """Decode with PyAV at the file's own rate, mix to mono, resample to 16 kHz with soxr."""
    import av
    import soxr

    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(stream):
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    audio = np.concatenate(chunks).astype(np.float32)
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE, "HQ").astype(np.float32)
    return audio


def load_clips(manifest: Path) -> list[Clip]:
    entries = json.loads(manifest.read_text())
    return [
        Clip(e["id"], load_clip(manifest.parent / e["file"]), e["reference"])
        for e in entries
        if e.get("use_for_wer") and e.get("reference")
    ]


def normalize(text: str) -> str:
    text = re.sub(r"(?<=\d)[,.](?=\d)", "", text.lower())  # "1,0001" → "10001"
    text = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", text)
    words = re.sub(r"[^\w' ]+", " ", text).split()
    out = []
    for i, word in enumerate(words):
        near_digit = any(0 <= j < len(words) and words[j] in DIGITS for j in (i - 1, i + 1))
        out.append("zero" if word == "oh" and near_digit else word)
    return " ".join(out)


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    import jiwer

    refs = [normalize(r) for r in references]
    hyps = [normalize(h) or "<empty>" for h in hypotheses]
    return float(jiwer.wer(refs, hyps))


# ---------------------------------------------------------------------------- runs


@dataclass
class Run:
    name: str
    texts: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # every call, every repeat
    short_latencies: list[float] = field(default_factory=list)  # clips under SHORT_CLIP_S


@contextmanager
def loop_guard_off() -> Iterator[None]:
    """The repetition cuts disabled (an ablation, to show what they catch)."""
    names = ("cut_past_end", "loop_start")
    saved = [getattr(whisper_window, name) for name in names]
    setattr(whisper_window, "cut_past_end", lambda tokens, *_: list(tokens))  # noqa: B010
    setattr(whisper_window, "loop_start", lambda words, min_copies: None)  # noqa: B010
    try:
        yield
    finally:
        for name, value in zip(names, saved, strict=True):
            setattr(whisper_window, name, value)


def settings(model: str, window: str, padding: float = 10.0, threads: int = 2, workers: int = 1) -> ModelSettings:
    return ModelSettings.model_validate(
        {"model": model, "window": window, "window_padding_s": padding, "cpu_threads": threads, "num_workers": workers}
    )


def sequential(engine: WhisperEngine, clips: Sequence[Clip], name: str, repeats: int) -> Run:
    run = Run(name)
    for repeat in range(repeats):
        for clip in clips:
            started = time.perf_counter()
            result = engine.transcribe(TranscribeRequest(audio=clip.audio))
            elapsed = time.perf_counter() - started
            if repeat == 0:
                run.texts.append(result.text)
            run.latencies.append(elapsed)
            if clip.seconds < SHORT_CLIP_S:
                run.short_latencies.append(elapsed)
    return run


def concurrent(
    call: Callable[[Clip], Any], clips: Sequence[Clip], callers: int, repeats: int
) -> tuple[list[float], float, float]:
    """Per-call latencies, wall seconds and audio seconds when ``callers`` threads share the clips."""
    jobs = [clip for _ in range(repeats) for clip in clips]

    def timed(clip: Clip) -> float:
        started = time.perf_counter()
        call(clip)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        latencies = list(pool.map(timed, jobs))
    return latencies, time.perf_counter() - started, sum(c.seconds for c in jobs)


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------- report


def accuracy_table(clips: Sequence[Clip], runs: Sequence[Run]) -> list[str]:
    full = runs[0].texts
    lines = [
        "| window | same text as full (exact / normalised) | WER | median s | p95 s | median s, clips < 4 s |",
        "|---|---|---|---|---|---|",
    ]
    refs = [c.reference for c in clips]
    for run in runs:
        exact = sum(a == b for a, b in zip(run.texts, full, strict=True))
        same = sum(normalize(a) == normalize(b) for a, b in zip(run.texts, full, strict=True))
        lines.append(
            f"| {run.name} | {exact}/{len(clips)} / {same}/{len(clips)} | {wer(refs, run.texts):.3f} "
            f"| {statistics.median(run.latencies):.3f} | {pct(run.latencies, 0.95):.3f} "
            f"| {statistics.median(run.short_latencies):.3f} |"
        )
    return lines


def difference_lines(clips: Sequence[Clip], runs: Sequence[Run]) -> list[str]:
    lines = []
    for i, clip in enumerate(clips):
        texts = {run.name: run.texts[i] for run in runs}
        if len({normalize(t) for t in texts.values()}) > 1:
            lines.append(f"- **{clip.id}** (ref: {clip.reference[:80]!r})")
            lines.extend(f"  - {name}: {text[:160]!r}" for name, text in texts.items())
    return lines or ["- none: every window wrote the same words on every clip"]


def stacked_row(model: str, window: str, padding: float, clips: Sequence[Clip], repeats: int) -> str:
    """Clips in manifest order, four to one ``transcribe_batch`` (one generate call)."""
    stacked = settings(model, window, padding).model_copy(update={"batch_strategy": "stacked"})
    groups = [clips[i : i + 4] for i in range(0, len(clips), 4)]
    latencies: list[float] = []
    with WhisperEngine(stacked) as engine:
        started = time.perf_counter()
        for _ in range(repeats):
            for group in groups:
                t0 = time.perf_counter()
                engine.transcribe_batch([TranscribeRequest(audio=c.audio) for c in group])
                latencies.extend([time.perf_counter() - t0] * len(group))
        wall = time.perf_counter() - started
    audio_s = sum(c.seconds for c in clips) * repeats
    return (
        f"| {window} | stacked ×4 | 2 | 1 | 1 | {statistics.median(latencies):.3f} "
        f"| {pct(latencies, 0.95):.3f} | {audio_s / wall:.1f} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--paddings", default="10,5,2", help="trimmed-window paddings (s) to compare")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the clips for latency")
    parser.add_argument("--no-concurrency", action="store_true", help="skip the threads/workers table")
    args = parser.parse_args(argv)

    clips = load_clips(args.manifest)
    total_s = sum(c.seconds for c in clips)
    print(f"{len(clips)} clips, {total_s:.1f} s of audio; model {args.model}; {args.repeats} passes")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")

    runs: list[Run] = []
    with WhisperEngine(settings(args.model, "full")) as engine:
        runs.append(sequential(engine, clips, "full (faster-whisper transcribe)", args.repeats))
    paddings = [float(p) for p in args.paddings.split(",") if p]
    for padding in [30.0, *paddings]:
        label = "trimmed, 30 s cap = full window via generate()" if padding >= 30 else f"trimmed + {padding:g} s"
        with WhisperEngine(settings(args.model, "trimmed", padding)) as engine:
            runs.append(sequential(engine, clips, label, args.repeats))
    smallest = min(paddings)
    with loop_guard_off(), WhisperEngine(settings(args.model, "trimmed", smallest)) as engine:
        runs.append(sequential(engine, clips, f"trimmed + {smallest:g} s, loop guard off", 1))

    print("## Window: accuracy and latency (cpu_threads=2, num_workers=1, one caller)\n")
    print("\n".join(accuracy_table(clips, runs)))
    print("\n### Clips whose words differ between windows\n")
    print("\n".join(difference_lines(clips, runs)))

    if not args.no_concurrency:
        print("\n## Threads, workers and batching (2 CPU cores; every clip, all passes)\n")
        print("| window | strategy | cpu_threads | num_workers | callers | median s | p95 s | audio s per wall s |")
        print("|---|---|---|---|---|---|---|---|")
        for window, padding in (("full", 10.0), ("trimmed", 10.0)):
            for threads, workers, callers in ((2, 1, 1), (2, 1, 2), (1, 2, 2), (1, 2, 1)):
                with WhisperEngine(settings(args.model, window, padding, threads, workers)) as engine:

                    def call(clip: Clip, engine: WhisperEngine = engine) -> Transcript:
                        return engine.transcribe(TranscribeRequest(audio=clip.audio))

                    lat, wall, audio_s = concurrent(call, clips, callers, args.repeats)
                print(
                    f"| {window} | parallel | {threads} | {workers} | {callers} | {statistics.median(lat):.3f} "
                    f"| {pct(lat, 0.95):.3f} | {audio_s / wall:.1f} |"
                )
            print(stacked_row(args.model, window, padding, clips, args.repeats))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (other processes on the machine skew the latencies)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
