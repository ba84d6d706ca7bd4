"""What each enrichment stage costs per final, in-process, on this machine.

Transcribes the human clips of ``shared/data`` with tiny.en once, then runs each stage of the
enrichment chain (``app.enrich``) on each final with the real engines, ``--repeats`` times, and
prints the median and p95 milliseconds a final spends in each stage (the model stages include the
hop to a worker thread, as in the file mode; behind Serve add the handle's round trip, ~1–3 ms),
plus the engines' own cost: one Resemblyzer window, one sentiment text, one sentence embedding.

    .venv/bin/python scripts/measure_enrichment.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app import protocol as p
from app.audio.files import load_audio
from app.config import ModelSettings, ServerSettings
from app.engines import WhisperEngine
from app.engines.enrichment import LocalEnrichment
from app.enrich.enrichers import AnalysisEnricher, DiarizationEnricher, ProfanityEnricher, WakeWordEnricher
from app.enrich.ports import AnalyzeRequest, EmbedRequest
from app.enrich.profanity import ProfanityFilter
from app.options import parse_session_options
from app.session.results import final_result
from app.session.timeline import Timeline
from app.transcript import SAMPLE_RATE, TranscribeRequest

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT.parent / "shared" / "data" / "manifest.json"
ALL_ON = parse_session_options(
    {
        "features": {
            "speaker_diarization": True,
            "sentiment_analysis": {"enabled": True},
            "topic_detection": {"enabled": True},
            "profanity_filter": {"enabled": True},
            "wake_words": {"enabled": True, "phrases": ["hey computer"]},
        }
    }
)


def ms(values: list[float]) -> str:
    arr = np.asarray(values) * 1000
    return f"median {statistics.median(arr):7.2f} ms  p95 {np.percentile(arr, 95):7.2f} ms  (n={len(arr)})"


async def main(repeats: int, threads: int) -> None:
    clips = [c for c in json.loads(MANIFEST.read_text()) if c.get("use_for_wer") and c["duration_s"] < 30]
    whisper = WhisperEngine(ModelSettings(window="trimmed"))
    settings = ServerSettings().enrichment
    settings.diarization.cpu_threads = threads  # torch threads, as serve_config.yaml sets them
    enrichment = LocalEnrichment(settings)
    await enrichment.prepare(ALL_ON)
    stages = {
        "diarization": DiarizationEnricher(enrichment.embedder, settings.diarization),
        "analysis (sentiment + topics)": AnalysisEnricher(enrichment.analyzer, settings.analysis),
        "wake words": WakeWordEnricher(settings.wake_word_max_edits),
        "profanity": ProfanityEnricher(ProfanityFilter.default()),
    }
    finals = []
    for clip in clips:
        audio = load_audio(MANIFEST.parent / clip["file"])
        t = whisper.transcribe(TranscribeRequest(audio=audio))
        final = final_result(
            "m",
            1,
            1,
            words=t.words,
            text=t.text,
            start=0,
            end=len(audio),
            timeline=Timeline(datetime.now(UTC)),
            options=ALL_ON,
            transcription_time=0.0,
        )
        finals.append((final, audio))
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(repeats):
        for final, audio in finals:
            msg: p.FinalResult = final
            for name, stage in stages.items():
                started = time.perf_counter()
                msg = await stage.enrich(msg, audio, ALL_ON)
                times[name].append(time.perf_counter() - started)
    print(f"{len(finals)} finals of {len(clips)} clips, {repeats} repeats")
    for name, values in times.items():
        print(f"{name:32s} {ms(values)}")
    engine = enrichment.embedder.engine
    assert engine is not None
    window = np.random.default_rng(0).standard_normal(int(1.6 * SAMPLE_RATE)).astype(np.float32) * 0.05
    one = [timed(lambda: engine.embed(EmbedRequest(window, ((0, len(window)),)))) for _ in range(30)]
    eight = [timed(lambda: engine.embed(EmbedRequest(window, ((0, len(window)),) * 8))) / 8 for _ in range(10)]
    print(f"{'Resemblyzer, one 1.6 s window':32s} {ms(one)}")
    print(f"{'  per window in a batch of 8':32s} {ms(eight)}")
    analysis = enrichment.analyzer.engine
    sentence = ("The service was slow but the food was wonderful.",)
    print(f"{'VADER, one sentence':32s} {ms([timed(lambda: analysis.sentiment.score(sentence)) for _ in range(30)])}")
    print(f"{'MiniLM, one sentence':32s} {ms([timed(lambda: analysis.encoder.encode(sentence)) for _ in range(30)])}")
    request = AnalyzeRequest(sentence, sentence, ())
    print(f"{'Analyzer request (no topics)':32s} {ms([timed(lambda: analysis.analyze(request)) for _ in range(30)])}")


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    args = parser.parse_args()
    asyncio.run(main(args.repeats, args.threads))
