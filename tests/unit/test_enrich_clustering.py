"""Online speaker clustering and the turns of one utterance, on synthetic embeddings."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from app import protocol as p
from app.enrich import diarization as dz
from app.enrich import speakers
from app.enrich.clustering import ClusterParams, OnlineClusterer, index, label, normalize
from app.transcript import SAMPLE_RATE


def near(base: np.ndarray, rng: np.random.Generator, noise: float = 0.15) -> np.ndarray:
    return normalize(base + rng.normal(0, noise / np.sqrt(len(base)), len(base)))


def voices(n: int, dim: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [normalize(rng.normal(size=dim)) for _ in range(n)]


def test_threshold_runs_from_short_to_long() -> None:
    p_ = ClusterParams(threshold_short=0.5, threshold_long=0.7, short_s=0.5, long_s=2.5)
    assert p_.threshold(0.1) == 0.5 and p_.threshold(0.5) == 0.5
    assert p_.threshold(1.5) == pytest.approx(0.6)
    assert p_.threshold(2.5) == 0.7 and p_.threshold(30) == 0.7


def test_two_voices_get_stable_labels_in_order_of_appearance() -> None:
    rng = np.random.default_rng(1)
    a, b = voices(2)
    c = OnlineClusterer()
    got = [c.assign(near(v, rng), 2.5).label for v in (b, a, b, b, a, a, b)]
    assert got == ["speaker_1", "speaker_2", "speaker_1", "speaker_1", "speaker_2", "speaker_2", "speaker_1"]
    assert c.labels == ["speaker_1", "speaker_2"]
    assert c.seconds("speaker_1") == pytest.approx(10.0)


def test_a_third_voice_opens_a_third_speaker_and_max_speakers_caps() -> None:
    rng = np.random.default_rng(2)
    a, b, v = voices(3)
    c = OnlineClusterer(ClusterParams(max_speakers=2))
    assert [c.assign(near(x, rng), 3.0).label for x in (a, b, v)][:2] == ["speaker_1", "speaker_2"]
    assert c.labels == ["speaker_1", "speaker_2"]  # full: the third voice went to the most similar one


def test_short_segments_never_open_a_speaker() -> None:
    rng = np.random.default_rng(3)
    a, b = voices(2)
    c = OnlineClusterer(ClusterParams(min_new_speaker_s=0.5))
    c.assign(near(a, rng), 3.0)
    m = c.assign(near(b, rng), 0.3)
    assert m.label == "speaker_1" and not m.new
    assert c.assign(near(b, rng), 0.6).new  # long enough: a new speaker


def test_peek_does_not_learn() -> None:
    rng = np.random.default_rng(4)
    a, b = voices(2)
    c = OnlineClusterer()
    assert c.peek(a, 2.0).label == "speaker_1"  # the speaker the first segment would open
    c.assign(near(a, rng), 2.0)
    assert c.peek(near(b, rng), 2.0).label == "speaker_2"
    assert c.labels == ["speaker_1"]


def test_revise_merges_two_labels_that_proved_to_be_one_voice() -> None:
    rng = np.random.default_rng(5)
    a, b = voices(2)
    # a voice heard first through a different channel: its first turns look like another speaker's
    a2 = normalize(0.62 * a + 0.78 * b)
    c = OnlineClusterer(ClusterParams(threshold_long=0.72, merge_threshold=0.75))
    assert c.assign(near(a, rng, 0.05), 3.0, key=(1, 0)).label == "speaker_1"
    assert c.assign(near(a2, rng, 0.05), 3.0, key=(2, 0)).label == "speaker_2"
    assert c.revise() == []  # nothing says they are one yet
    # later turns in between the two: each joins one of them, pulling the centroids together
    for seq in range(3, 9):
        mid = normalize(a + a2)
        c.assign(near(mid, rng, 0.05), 3.0, key=(seq, 0))
    changes = c.revise()
    assert changes and all(r.old == "speaker_2" and r.new == "speaker_1" for r in changes)
    assert (2, 0) in {r.key for r in changes}
    assert c.labels == ["speaker_1"]
    # the merged label is not given again: a new voice is speaker_3
    assert c.assign(near(voices(3, seed=9)[2], rng, 0.05), 3.0).label == "speaker_3"


def test_revise_moves_a_recent_turn_to_the_speaker_it_fits_better() -> None:
    rng = np.random.default_rng(6)
    a, b = voices(2)
    c = OnlineClusterer(ClusterParams(min_new_speaker_s=0.5))
    c.assign(near(a, rng, 0.05), 3.0, key=(1, 0))
    # the second voice's first turn is too short to open a speaker: it goes to the only one there is
    assert c.assign(near(b, rng, 0.05), 0.4, key=(2, 0)).label == "speaker_1"
    assert c.revise() == []  # no other speaker to move it to
    assert c.assign(near(b, rng, 0.05), 3.0, key=(3, 0)).label == "speaker_2"
    c.assign(near(a, rng, 0.05), 3.0, key=(4, 0))
    changes = c.revise()
    assert [(r.key, r.old, r.new) for r in changes] == [((2, 0), "speaker_1", "speaker_2")]
    assert c.seconds("speaker_2") == pytest.approx(3.4) and c.seconds("speaker_1") == pytest.approx(6.0)
    assert c.revise() == []  # settled


def test_speakers_survive_a_snapshot() -> None:
    rng = np.random.default_rng(7)
    a, b = voices(2)
    c = OnlineClusterer()
    c.assign(near(a, rng), 3.0)
    c.assign(near(b, rng), 3.0)
    state = json.loads(json.dumps(c.snapshot()))  # as stored
    d = OnlineClusterer()
    d.restore(state)
    assert d.labels == ["speaker_1", "speaker_2"]
    assert d.assign(near(b, rng), 2.0).label == "speaker_2" and d.assign(near(a, rng), 2.0).label == "speaker_1"
    for bad in ({}, {"sums": ["!!"], "seconds": [1], "longest": [1], "alive": [True]}, {**state, "alive": []}):
        with pytest.raises(ValueError):
            OnlineClusterer().restore(bad)


def test_labels_parse_and_reject() -> None:
    assert label(0) == "speaker_1" and index("speaker_12") == 11
    for bad in ("speaker_0", "speaker_x", "spk_1"):
        with pytest.raises(ValueError):
            index(bad)


# --------------------------------------------------------------------------- windows and turns

PARAMS = dz.WindowParams(window_s=1.6, hop_s=0.8, change_threshold=0.7, min_turn_s=1.6)


def test_windows_cover_the_region_and_end_with_it() -> None:
    assert dz.windows(8000, PARAMS) == ((0, 8000),)  # shorter than a window: one, padded by the engine
    spans = dz.windows(5 * SAMPLE_RATE, PARAMS)
    assert spans[0] == (0, 25600) and spans[-1][1] == 5 * SAMPLE_RATE
    assert all(e - s == 25600 for s, e in spans)


def test_plan_uses_the_words_span_and_raises_quiet_speech() -> None:
    audio = np.zeros(4 * SAMPLE_RATE, np.float32)
    audio[SAMPLE_RATE : 3 * SAMPLE_RATE] = 0.001 * np.sin(np.arange(2 * SAMPLE_RATE) / 5)
    plan = dz.plan(audio, [(SAMPLE_RATE, 2 * SAMPLE_RATE), (2 * SAMPLE_RATE + 800, 3 * SAMPLE_RATE)], PARAMS)
    assert plan is not None
    assert plan.region == (SAMPLE_RATE - 1600, 3 * SAMPLE_RATE + 1600)
    rms = float(np.sqrt(np.mean(plan.audio**2)))
    assert 20 * np.log10(rms) == pytest.approx(dz.TARGET_DBFS, abs=0.5)
    assert dz.plan(audio, [(0, 800)], PARAMS) is not None
    assert dz.plan(np.zeros(1000, np.float32), [], PARAMS) is None


def _two_voice_plan(seconds_a: float, seconds_b: float) -> tuple[dz.Plan, np.ndarray, list[dz.Span]]:
    n = int((seconds_a + seconds_b) * SAMPLE_RATE)
    audio = np.full(n, 0.1, np.float32)
    plan = dz.Plan((0, n), audio, dz.windows(n, PARAMS))
    a, b = voices(2, seed=7)
    cut = seconds_a * SAMPLE_RATE
    emb = np.stack([a if (s + e) / 2 < cut else b for s, e in plan.windows])
    step = SAMPLE_RATE // 2
    words = [(s, s + step - 1600) for s in range(0, n - step + 1, step)]  # a word every 0.5 s, 0.1 s pauses
    return plan, emb, words


def test_a_change_of_voice_splits_the_utterance_at_a_pause() -> None:
    plan, emb, words = _two_voice_plan(3.0, 3.0)
    turns = dz.split_turns(plan, emb, words, PARAMS)
    assert len(turns) == 2
    boundary = turns[0].end
    assert abs(boundary - 3 * SAMPLE_RATE) <= 0.8 * SAMPLE_RATE
    assert any(abs(boundary - (e + s2) // 2) <= 1 for (_, e), (s2, _) in itertools.pairwise(words))
    assert turns[1].start == boundary and turns[1].end == plan.region[1]


def test_one_voice_is_one_turn_and_short_turns_are_not_looked_for() -> None:
    plan, emb, words = _two_voice_plan(6.0, 0.0)
    assert len(dz.split_turns(plan, emb, words, PARAMS)) == 1
    plan, emb, words = _two_voice_plan(3.0, 1.0)  # the second voice speaks less than min_turn_s
    assert len(dz.split_turns(plan, emb, words, PARAMS)) == 1


def _final(words: list[tuple[str, float, float]]) -> p.FinalResult:
    return p.FinalResult(
        session_id="s",
        utterance_id=1,
        seq=1,
        data=p.FinalData(
            text=" ".join(w for w, _, _ in words),
            confidence=0.9,
            audio=p.AudioSpan(start=10.0, end=14.0, duration=4.0),
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            words=[p.Word(word=w, start=s, end=e, confidence=0.9) for w, s, e in words],
        ),
    )


def test_speakers_of_a_final_follow_its_turns() -> None:
    final = _final([("hello", 10.2, 10.6), ("there", 10.7, 11.2), ("hi", 12.3, 12.6), ("you", 12.7, 13.5)])
    sr = SAMPLE_RATE
    turns = [
        speakers.LabelledTurn(dz.Turn(0, 2 * sr, normalize(np.ones(4))), "speaker_2"),
        speakers.LabelledTurn(dz.Turn(2 * sr, 4 * sr, normalize(np.ones(4))), "speaker_1"),
    ]
    words = [(round((w.start - 10) * sr), round((w.end - 10) * sr)) for w in final.data.words]
    out = speakers.build(final, turns, words, 10.0)
    s = out.data.speakers
    assert s is not None and s.count == 2
    assert [d.id for d in s.details] == ["speaker_2", "speaker_1"]
    assert s.details[0].segments == [p.SpeakerSegment(start=10.2, end=11.2)]
    assert s.details[1].speaking_time == pytest.approx(1.2)
    assert [w.speaker for w in out.data.words] == ["speaker_2", "speaker_2", "speaker_1", "speaker_1"]
    one = speakers.build(
        final, [speakers.LabelledTurn(dz.Turn(0, 4 * sr, turns[0].turn.embedding), "speaker_3")], words, 10.0
    )
    assert one.data.speakers is not None and one.data.speakers.count == 1
    assert one.data.speakers.details[0].segments == [p.SpeakerSegment(start=10.2, end=13.5)]


def test_segments_narrow_to_the_loud_part() -> None:
    final = _final([("hello", 10.0, 12.0)])
    audio = np.zeros(4 * SAMPLE_RATE, np.float32)
    audio[SAMPLE_RATE // 2 : SAMPLE_RATE] = 0.3  # the word's sound is 10.5 to 11.0 s
    turn = speakers.LabelledTurn(dz.Turn(0, 4 * SAMPLE_RATE, normalize(np.ones(4))), "speaker_1")
    out = speakers.build(final, [turn], [(0, 2 * SAMPLE_RATE)], 10.0, audio)
    assert out.data.speakers is not None
    assert out.data.speakers.details[0].segments == [p.SpeakerSegment(start=10.5, end=11.0)]
