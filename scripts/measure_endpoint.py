"""End-of-speech detection, offline: how long after a clip's last word its utterance end is found,
and how many utterances each shared clip is cut into (false splits).

Feeds the benchmark's stream (``bench.corpus``: 13 real clips with 1 s pauses; word ends from
the cached offline word-timestamped transcription) in 100 ms chunks, as a client sends it, to the
real VAD and segmenter (no model, no server) with the default session options, and reports per
clip the delay from its last word's end to the end of the chunk in which ``utterance_end`` fires;
then cuts every human clip of ``shared/data`` alone and counts its utterances.

    .venv/bin/python scripts/measure_endpoint.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench.corpus import build_stream, ground_truth  # noqa: E402

from app.audio.files import load_audio  # noqa: E402
from app.options import VadOptions  # noqa: E402
from app.transcript import SAMPLE_RATE, Audio  # noqa: E402
from app.vad import Segmenter, UtteranceEnd, VoiceDetector  # noqa: E402

CHUNK = SAMPLE_RATE // 10


def utterance_ends(audio: Audio, vad: VadOptions) -> list[tuple[UtteranceEnd, int]]:
    """Each utterance end with the offset of the chunk end at which it was found."""
    detector, segmenter = VoiceDetector(vad), Segmenter(vad)
    out: list[tuple[UtteranceEnd, int]] = []
    for i in range(0, len(audio), CHUNK):
        chunk = audio[i : i + CHUNK]
        events = [e for d in detector.push(chunk) for e in segmenter.push(d.is_speech, d.end, confident=d.confident)]
        if (quiet := detector.quiet_tail()) is not None:
            events += segmenter.quiet_until(quiet)
        out += [(e, i + len(chunk)) for e in events if isinstance(e, UtteranceEnd)]
    for event in segmenter.force_end(len(audio), "stop"):
        if isinstance(event, UtteranceEnd):
            out.append((event, len(audio)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--options", default="{}", help="vad options as JSON")
    args = ap.parse_args()
    vad = VadOptions.model_validate(json.loads(args.options))
    stream = build_stream()
    truth = ground_truth(stream, ROOT / "bench-results")
    ends = utterance_ends(stream.audio, vad)
    delays, found_in = [], []
    for clip in stream.clips:
        words = truth.words_of(clip.id)
        if not words:
            continue
        last = words[-1].end_s
        after = [(e, at) for e, at in ends if e.reason == "silence" and at / SAMPLE_RATE > last]
        if after:
            delays.append(after[0][1] / SAMPLE_RATE - last)
            found_in.append(round(after[0][0].end / SAMPLE_RATE - last, 3))
    psp = vad.post_speech_silence
    print(f"bench stream: {len(stream.clips)} clips, {len(ends)} utterances, post_speech_silence {psp:g} s")
    print(
        f"  end found after the last word: median {statistics.median(delays):.3f} s, "
        f"p95 {float(np.percentile(delays, 95)):.3f} s, max {max(delays):.3f} s "
        f"(target ≤ post_speech_silence + 0.15 = {psp + 0.15:.2f} s)"
    )
    print(f"  utterance end (audio) after the last word: median {statistics.median(found_in):.3f} s")
    data = ROOT.parent / "shared" / "data"
    manifest = json.loads((data / "manifest.json").read_text())
    total = 0
    print("\nutterances per clip (each clip alone, 0.5 s of silence after it):")
    for entry in manifest:
        if not str(entry.get("kind", "")).startswith("human") and entry["id"] not in {"moonshine_two_cities"}:
            continue
        audio = np.concatenate([load_audio(data / entry["file"]), np.zeros(SAMPLE_RATE, np.float32)])
        n = len(utterance_ends(audio, vad))
        total += n
        print(f"  {entry['id']:28s} {n}")
    print(f"  total {total}")


if __name__ == "__main__":
    main()
