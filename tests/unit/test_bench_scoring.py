"""The benchmark's word emission (scripts/bench/scoring.py): a word's latency is the first message that
shows it, and words a final shows first (no partial before it) are counted apart."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from bench.corpus import BenchStream, GroundTruth, PlacedClip, TruthWord  # noqa: E402
from bench.scoring import score_round  # noqa: E402
from bench.session import SessionRecord, Timed  # noqa: E402

from app import protocol as p  # noqa: E402
from app.transcript import SAMPLE_RATE  # noqa: E402

TS = "2026-01-01T00:00:00+00:00"
SPOKEN = (("ask", 0.2, 0.5), ("not", 0.6, 0.9), ("what", 1.0, 1.3), ("your", 1.4, 1.7))


def _words(texts: list[str]) -> list[p.Word]:
    timing = {w: (s, e) for w, s, e in SPOKEN}
    return [p.Word(word=t, start=timing[t][0], end=timing[t][1], confidence=0.9) for t in texts]


def _partial(texts: list[str]) -> p.PartialResult:
    text = " ".join(texts)
    return p.PartialResult(
        session_id="s",
        utterance_id=1,
        data=p.PartialData(
            text=text,
            stable_text="",
            confidence=0.9,
            timestamp=TS,
            audio_start=0.0,
            audio_current=2.0,
            words=_words(texts),
        ),
    )


def _final(texts: list[str]) -> p.FinalResult:
    return p.FinalResult(
        session_id="s",
        utterance_id=1,
        seq=1,
        data=p.FinalData(
            text=" ".join(texts),
            confidence=0.9,
            audio=p.AudioSpan(start=0.0, end=2.0, duration=2.0),
            timestamp=TS,
            words=_words(texts),
        ),
    )


def test_words_a_final_shows_first_are_counted_apart() -> None:
    stream = BenchStream(np.zeros(2 * SAMPLE_RATE, dtype=np.float32), (PlacedClip("c", "ask not what your", 0.0, 2.0),))
    truth = GroundTruth(
        stream.digest(), {}, tuple(TruthWord(w, w, s, e, "c") for w, s, e in SPOKEN), {}, 0.0, len(SPOKEN), 0.0
    )
    record = SessionRecord(index=0, delay_s=0.0)
    record.messages = [
        Timed(0.7, _partial(["ask"])),
        Timed(1.2, _partial(["ask", "not"])),
        # "what" only in the final; "your" in no message at all
        Timed(2.5, _final(["ask", "not", "what"])),
    ]
    score = score_round([(stream, truth)], [record])
    assert score.words_total == 4
    assert score.words_never_shown == 1 and score.never_shown == ["your@1.70 x1"]
    assert score.word_emission["n"] == 3
    assert score.word_emission["max"] == 1.2  # "what": the final at 2.5, 1.3 s after the word
    # the final repeats "ask" and "not": they still count from their first partial, not the final
    assert score.first_in_final["n"] == 1 and score.first_in_final["median"] == 1.2
