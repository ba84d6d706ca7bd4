"""Main-model decode settings, chosen by WER of finals through the streaming core.

Streams each English human clip of ``shared/data/manifest.json`` (the model tests' 13 WER
clips) through the same :class:`~app.session.controller.StreamSession` the service runs
(100 ms chunks, as fast as the model goes, speculative finals on, partials off: they do not
change finals), once per candidate main-model setting, and prints for each: pooled WER of
the finals on the tuning clips, on the held-out clips and on both; and the main model's CPU
seconds (process time, so valid on a shared machine) per call and per final, speculative
calls included.

    .venv/bin/python scripts/measure_main_model.py [--candidates NAME,...] [--show-texts] [--json FILE]
    .venv/bin/python scripts/measure_main_model.py --languages   # the chosen setting on other languages

The clips are split in two: settings were tuned on ``TUNE`` only, ``HELD_OUT`` checks them.
WER normalisation is the model tests' (``tests/wer.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.wer, when run as scripts/measure_main_model.py

from app import protocol as p  # noqa: E402
from app.audio.files import load_audio, to_pcm16  # noqa: E402
from app.config import ModelSettings, ServerSettings, main_model_defaults  # noqa: E402
from app.engines import WhisperEngine  # noqa: E402
from app.options import SessionOptions, parse_session_options  # noqa: E402
from app.session.controller import Ports, StreamSession  # noqa: E402
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript  # noqa: E402
from tests.wer import normalize, pooled_wer  # noqa: E402

MANIFEST = ROOT.parent / "shared" / "data" / "manifest.json"
TUNE = ["jfk", "LDC93S1", *(f"sb_spk1_snt{n}" for n in range(1, 6))]
HELD_OUT = ["new_home_in_the_stars", *(f"sb_spk2_snt{n}" for n in range(1, 6)), "vosk_test"]

#: name → (main model settings, session language); a name says window (trimmed + padding s, or
#: full: faster-whisper's transcribe()), what fills the window after the audio, and the beam size
CANDIDATES: dict[str, tuple[dict[str, Any], str]] = {}


def _candidate(model: str, window: str, fill: str, beam: int, *, language: str = "en", note: str = "") -> None:
    settings: dict[str, Any] = {"model": model, "beam_size": beam}
    if window == "full":
        settings["window"] = "full"
        name = f"{model} full b{beam}"
    else:
        settings.update(window="trimmed", window_padding_s=float(window), window_fill=fill)
        name = f"{model} trimmed+{window} {fill} b{beam}"
    if note == "no-ts":
        settings["without_timestamps"] = True
    suffix = " ".join(x for x in (note, "" if language == "en" else f"language {language}") if x)
    CANDIDATES[f"{name} {suffix}".strip()] = (settings, language)


_candidate("tiny.en", "10", "zeros", 1, note="(main before)")
_candidate("tiny.en", "10", "silence", 1)
_candidate("tiny.en", "5", "zeros", 1)
_candidate("tiny.en", "5", "silence", 1)
_candidate("base", "10", "zeros", 1, note="(naive swap)")
_candidate("base", "10", "zeros", 5)
_candidate("base", "full", "zeros", 5, note="(faster-whisper transcribe)")
_candidate("base", "full", "zeros", 1)
for _padding in ("10", "5"):
    for _beam in (1, 5, 10):
        _candidate("base", _padding, "silence", _beam)
for _padding in ("3", "2", "1"):
    _candidate("base", _padding, "silence", 5)
_candidate("base", "5", "silence", 5, note="no-ts")
_candidate("base", "5", "silence", 5, language="auto")


@dataclass
class Result:
    name: str
    settings: dict[str, Any]
    language: str
    texts: dict[str, str] = field(default_factory=dict)
    call_cpu_s: list[float] = field(default_factory=list)
    finals: int = 0

    def wer(self, references: dict[str, str], ids: Sequence[str]) -> float:
        return pooled_wer([(references[i], self.texts[i]) for i in ids])

    def errors(self, references: dict[str, str], ids: Sequence[str]) -> int:
        words = sum(len(normalize(references[i]).split()) for i in ids)
        return round(self.wer(references, ids) * words)


class CpuTimedMain:
    """The main model, called on the event loop's own thread: nothing else of this process
    runs during a call, so the process-time difference is the call's CPU cost on every core."""

    def __init__(self, engine: WhisperEngine, cpu: list[float]) -> None:
        self.engine = engine
        self.cpu = cpu

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        started = time.process_time()
        try:
            return self.engine.transcribe(request)
        finally:
            self.cpu.append(time.process_time() - started)


class NoPartials:
    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        raise RuntimeError("partials are off in this measurement")


async def stream_finals(ports: Ports, audio: np.ndarray, options: SessionOptions) -> list[p.FinalResult]:
    finals: list[p.FinalResult] = []

    async def emit(msg: p.ServerMessage) -> None:
        if isinstance(msg, p.FinalResult):
            finals.append(msg)

    session = StreamSession("measure", settings=ServerSettings(), ports=ports, emit=emit, enforce_realtime=False)
    await session.handle(p.StartStream(options=options))
    pcm = to_pcm16(np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)]))  # 1 s of silence ends it
    for offset in range(0, len(pcm), 3200):
        await session.feed(pcm[offset : offset + 3200])
        await asyncio.sleep(0)
    await session.handle(p.StopStream())
    return finals


async def measure(name: str, overrides: dict[str, Any], language: str, clips: dict[str, np.ndarray]) -> Result:
    settings = ModelSettings.model_validate({"cpu_threads": 1, "num_workers": 1, **overrides})
    result = Result(name, overrides, language)
    options = parse_session_options({"language": language, **PARTIALS_OFF})
    with WhisperEngine(settings) as engine:
        ports = Ports(realtime=NoPartials(), main=CpuTimedMain(engine, result.call_cpu_s))
        for clip_id, audio in clips.items():
            finals = await stream_finals(ports, audio, options)
            result.texts[clip_id] = " ".join(f.data.text for f in finals)
            result.finals += len(finals)
    return result


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def table(results: Sequence[Result], references: dict[str, str]) -> list[str]:
    both = [*TUNE, *HELD_OUT]
    lines = [
        f"| main model setting | WER tune ({len(TUNE)} clips) | WER held-out ({len(HELD_OUT)}) "
        f"| WER pooled ({len(both)}) | word errors | finals "
        "| main calls | CPU s a call median / p95 | CPU s per final |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.wer(references, TUNE):.1%} | {r.wer(references, HELD_OUT):.1%} "
            f"| {r.wer(references, both):.1%} | {r.errors(references, both)} | {r.finals} | {len(r.call_cpu_s)} "
            f"| {statistics.median(r.call_cpu_s):.3f} / {pct(r.call_cpu_s, 0.95):.3f} "
            f"| {sum(r.call_cpu_s) / max(r.finals, 1):.3f} |"
        )
    return lines


async def measure_languages(entries: list[dict[str, Any]], root: Path) -> list[str]:
    """The chosen main model (main_model_defaults) on the non-English clips: detection with
    ``language: auto``, and WER (CER for ja, ko, zh) with the language given."""
    import jiwer

    lines = [
        "| clip | language | detected (probability) | WER / CER given the language | final, language given |",
        "|---|---|---|---|---|",
    ]
    cpu: list[float] = []
    with WhisperEngine(main_model_defaults().model_copy(update={"num_workers": 1})) as engine:
        ports = Ports(realtime=NoPartials(), main=CpuTimedMain(engine, cpu))
        for e in entries:
            audio = load_audio(root / e["file"])
            lang = e["language"]
            auto = await stream_finals(ports, audio, parse_session_options({"language": "auto", **PARTIALS_OFF}))
            given = await stream_finals(ports, audio, parse_session_options({"language": lang, **PARTIALS_OFF}))
            text = " ".join(f.data.text for f in given)
            if lang in ("ja", "ko", "zh"):
                score = f"CER {jiwer.cer(_chars(e['reference']), _chars(text)):.1%}"
            else:
                score = f"WER {jiwer.wer(_words(e['reference']), _words(text)):.1%}"
            detected = ", ".join(f"{f.data.language} ({f.data.language_probability:.3f})" for f in auto)
            lines.append(f"| {e['id']} | {lang} | {detected} | {score} | {text} |")
    lines.append(f"\nmain model CPU s a call: median {statistics.median(cpu):.3f}, p95 {pct(cpu, 0.95):.3f}")
    return lines


PARTIALS_OFF: dict[str, Any] = {"features": {"interim_results": False}}


def _words(text: str) -> str:
    return " ".join("".join(c if c.isalnum() or c in "' " else " " for c in text.lower()).split())


def _chars(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated names (default: all)")
    parser.add_argument("--show-texts", action="store_true", help="print every final that differs from the reference")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--languages", action="store_true", help="only the chosen setting on the non-English clips (manifest_more)"
    )
    args = parser.parse_args(argv)
    if args.languages:
        more = json.loads((args.manifest.parent / "manifest_more.json").read_text())
        others = [e for e in more if e["language"] != "en"]
        print("\n".join(asyncio.run(measure_languages(others, args.manifest.parent))))
        return 0

    entries = {e["id"]: e for e in json.loads(args.manifest.read_text())}
    ids = [*TUNE, *HELD_OUT]
    clips = {i: load_audio(args.manifest.parent / entries[i]["file"]) for i in ids}
    references = {i: str(entries[i]["reference"]) for i in ids}
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {list(CANDIDATES)}")
    print(f"{len(clips)} clips ({sum(len(a) for a in clips.values()) / SAMPLE_RATE:.1f} s); cpu_threads 1")
    results = []
    for name in names:
        overrides, language = CANDIDATES[name]
        result = asyncio.run(measure(name, overrides, language, clips))
        results.append(result)
        print(table([result], references)[-1], flush=True)
        if args.show_texts:
            for clip_id in ids:
                if normalize(result.texts[clip_id]) != normalize(references[clip_id]):
                    print(f"    {clip_id}: {result.texts[clip_id]!r}")
    print()
    print("\n".join(table(results, references)))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
