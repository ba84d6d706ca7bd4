"""Score the service's speaker diarization on your own recording: stream a WAV (any rate the
service takes: a phone call's 8 kHz is sent as it is) through a running app with
``speaker_diarization`` on, as a live client does, and compare the speakers of its finals (with
every ``speaker_revision`` applied, as a client that honours them has them) with a reference RTTM,
using pyannote.metrics: DER at collar 0 and at collar 0.25 (pyannote's ``collar``: that much in all
around each reference boundary is not scored), overlapped speech scored; JER; the speakers found
against the reference's; how the utterances ended; and how long each final took after its
utterance ended, less the main model's own time (``transcription_time``): with ``--baseline`` the
same stream runs again with diarization off, and the difference is what diarization adds.

    .venv/bin/python scripts/score_diarization.py call.wav call.rttm --url http://127.0.0.1:8000 \\
        --api-key dev-key-change-me [--speed 1] [--baseline] [--json out.json]

The RTTM's speaker names are matched to the service's labels by the metric (the best mapping).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import wave
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app import protocol as p
from app.client import SttClient

Segment = tuple[float, float, str]


@dataclass
class Run:
    finals: list[p.FinalResult] = field(default_factory=list)  # as first sent
    revisions: list[p.SpeakerRevision] = field(default_factory=list)
    end_reasons: Counter[str] = field(default_factory=Counter)
    latency_s: list[float] = field(default_factory=list)  # utterance_end → final, less transcription_time
    audio_s: float = 0.0

    def revised(self) -> list[p.FinalResult]:
        """The finals as a client that applies every revision in order has them."""
        finals = list(self.finals)
        for rev in self.revisions:
            finals = [rev.apply(f) for f in finals]
        return finals


def read_rttm(path: Path) -> list[Segment]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            out.append((start, start + dur, f[7]))
    return out


def hypothesis(finals: list[p.FinalResult]) -> list[Segment]:
    return [
        (seg.start, seg.end, d.id)
        for f in finals
        if f.data.speakers is not None
        for d in f.data.speakers.details
        for seg in d.segments
    ]


def wav_rate(path: Path) -> int:
    try:
        with wave.open(str(path)) as w:
            return int(w.getframerate())
    except (wave.Error, EOFError):
        return 16000  # another container: decoded and sent at 16 kHz


async def stream(
    url: str, api_key: str, path: Path, *, diarize: bool, speed: float, partials: bool, extra: dict[str, Any]
) -> Run:
    options: dict[str, Any] = {
        "audio": {"sample_rate": wav_rate(path)},
        "features": {"speaker_diarization": diarize, "interim_results": partials},
        "formatting": {"print_transcription_time": True},
        **extra,
    }
    run = Run()
    ended: dict[int, float] = {}
    async with SttClient(url, api_key=api_key).stream(options=options) as s:

        async def send() -> None:
            await s.send_file(path, realtime=True, speed=speed)
            await s.stop()  # at once: no message may come after the last frame (the session would idle out)

        sender = asyncio.create_task(send())
        async for msg in s:
            now = time.monotonic()
            if isinstance(msg, p.UtteranceEnd):
                ended[msg.utterance_id] = now
                run.end_reasons[msg.reason] += 1
            elif isinstance(msg, p.FinalResult):
                run.finals.append(msg)
                if msg.utterance_id in ended:
                    run.latency_s.append(now - ended[msg.utterance_id] - (msg.data.transcription_time or 0.0))
            elif isinstance(msg, p.SpeakerRevision):
                run.revisions.append(msg)
            elif isinstance(msg, p.SessionEnded):
                run.audio_s = msg.audio_duration
        await sender
    return run


@dataclass(frozen=True)
class Report:
    recording: str
    audio_s: float
    der_collar0: float
    der_collar025: float
    jer: float
    confusion_collar025: float
    der_collar025_as_sent: float  # before any revision
    speakers_reference: int
    speakers_found: int
    finals: int
    one_speaker_finals: int  # finals with one speaker (a turn each, as they should be); none: without speakers
    revisions: int
    end_reasons: dict[str, int]
    latency_median_s: float | None
    latency_p95_s: float | None
    baseline_latency_median_s: float | None = None
    baseline_latency_p95_s: float | None = None


def der(reference: list[Segment], hyp: list[Segment], seconds: float) -> dict[str, float]:
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")  # no telemetry
    from pyannote.core import Annotation, Timeline
    from pyannote.core import Segment as PSeg
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    def annotation(segs: list[Segment]) -> Annotation:
        a = Annotation()
        for n, (s, e, spk) in enumerate(segs):
            if e > s:
                a[PSeg(s, e), n] = spk
        return a

    ref, h = annotation(reference), annotation(hyp)
    uem = Timeline([PSeg(0, seconds)])
    d25 = DiarizationErrorRate(collar=0.25)(ref, h, uem=uem, detailed=True)
    return {
        "der0": float(DiarizationErrorRate(collar=0.0)(ref, h, uem=uem)),
        "der25": float(d25["diarization error rate"]),
        "confusion25": float(d25["confusion"] / (d25["total"] or 1.0)),
        "jer": float(JaccardErrorRate(collar=0.0)(ref, h, uem=uem)),
        "found": len(h.labels()),
        "reference": len(ref.labels()),
    }


def quantiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    return round(statistics.median(ordered), 3), round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)


async def score(
    wav: Path,
    rttm: Path,
    *,
    url: str,
    api_key: str,
    speed: float = 1.0,
    partials: bool = True,
    baseline: bool = False,
    extra: dict[str, Any] | None = None,
) -> Report:
    reference = read_rttm(rttm)
    run = await stream(url, api_key, wav, diarize=True, speed=speed, partials=partials, extra=extra or {})
    seconds = max(run.audio_s, max((e for _, e, _ in reference), default=0.0))
    final = der(reference, hypothesis(run.revised()), seconds)
    as_sent = der(reference, hypothesis(run.finals), seconds)
    med, p95 = quantiles(run.latency_s)
    report = Report(
        recording=wav.stem,
        audio_s=round(seconds, 2),
        der_collar0=round(final["der0"], 4),
        der_collar025=round(final["der25"], 4),
        jer=round(final["jer"], 4),
        confusion_collar025=round(final["confusion25"], 4),
        der_collar025_as_sent=round(as_sent["der25"], 4),
        speakers_reference=int(final["reference"]),
        speakers_found=int(final["found"]),
        finals=len(run.finals),
        one_speaker_finals=sum(1 for f in run.revised() if f.data.speakers is not None and f.data.speakers.count == 1),
        revisions=len(run.revisions),
        end_reasons=dict(run.end_reasons),
        latency_median_s=med,
        latency_p95_s=p95,
    )
    if baseline:
        off = await stream(url, api_key, wav, diarize=False, speed=speed, partials=partials, extra=extra or {})
        b_med, b_p95 = quantiles(off.latency_s)
        report = Report(**{**asdict(report), "baseline_latency_median_s": b_med, "baseline_latency_p95_s": b_p95})
    return report


def show(r: Report) -> str:
    lines = [
        f"{r.recording}: {r.audio_s:.1f} s, {r.finals} finals ({r.one_speaker_finals} of one speaker), "
        f"{r.revisions} speaker revisions, utterance ends {r.end_reasons}",
        f"  DER {r.der_collar0:.1%} (collar 0)  {r.der_collar025:.1%} (collar 0.25; confusion "
        f"{r.confusion_collar025:.1%}; as first sent {r.der_collar025_as_sent:.1%})  JER {r.jer:.1%}",
        f"  speakers: {r.speakers_found} found, {r.speakers_reference} in the reference",
    ]
    if r.latency_median_s is not None:
        lines.append(
            f"  final latency after utterance end, less the main model: median {r.latency_median_s * 1000:.0f} ms, "
            f"p95 {(r.latency_p95_s or 0) * 1000:.0f} ms"
        )
    if r.baseline_latency_median_s is not None:
        added = (r.latency_median_s or 0) - r.baseline_latency_median_s
        lines.append(
            f"  without diarization: median {r.baseline_latency_median_s * 1000:.0f} ms, p95 "
            f"{(r.baseline_latency_p95_s or 0) * 1000:.0f} ms → diarization adds {added * 1000:.0f} ms (median)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav", type=Path)
    ap.add_argument("rttm", type=Path)
    ap.add_argument("--url", default=os.environ.get("STT_URL", "http://127.0.0.1:8000"))
    ap.add_argument("--api-key", default=os.environ.get("STT_API_KEY", "dev-key-change-me"))
    ap.add_argument("--speed", type=float, default=1.0, help="pace: 1 = real time (the server allows up to its limit)")
    ap.add_argument("--no-partials", action="store_true", help="finals only (interim_results off)")
    ap.add_argument("--baseline", action="store_true", help="stream again with diarization off: the latency it adds")
    ap.add_argument("--options", default="{}", help="more session options, as JSON (merged at the top level)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    report = asyncio.run(
        score(
            args.wav,
            args.rttm,
            url=args.url,
            api_key=args.api_key,
            speed=args.speed,
            partials=not args.no_partials,
            baseline=args.baseline,
            extra=json.loads(args.options),
        )
    )
    print(show(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
