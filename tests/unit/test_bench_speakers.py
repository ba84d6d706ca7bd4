"""The benchmark's independent speakers (scripts/bench_stream.py --speakers independent): each session
streams the same clips from another clip on, with the same audio and words, its ground truth moved
with the clips."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from bench.corpus import DEFAULT_MANIFEST, BenchStream, GroundTruth, TruthWord, build_stream  # noqa: E402
from bench_stream import lanes_for  # noqa: E402

from app.transcript import SAMPLE_RATE  # noqa: E402

pytestmark = pytest.mark.skipif(not DEFAULT_MANIFEST.exists(), reason="shared/data is not here")


def _truth(stream: BenchStream) -> GroundTruth:
    """A ground truth with one word in the middle of each clip (no model needed)."""
    words = tuple(TruthWord(c.id, c.id.lower(), c.start_s + 0.1, c.start_s + 0.3, c.id) for c in stream.clips)
    return GroundTruth(stream.digest(), {}, words, {}, 0.05, len(words), 0.0)


def _clip_audio(stream: BenchStream, clip_id: str) -> np.ndarray:
    clip = next(c for c in stream.clips if c.id == clip_id)
    first = round(clip.start_s * SAMPLE_RATE)
    return stream.audio[first : first + round(clip.duration_s * SAMPLE_RATE)]


def test_a_rotated_stream_is_the_same_audio_in_another_order() -> None:
    stream = build_stream()
    rotated = stream.rotated(5)
    assert rotated.clips[0].id == stream.clips[5].id
    assert rotated.audio.shape == stream.audio.shape
    assert sorted(c.id for c in rotated.clips) == sorted(c.id for c in stream.clips)
    for clip in stream.clips:
        assert np.array_equal(_clip_audio(rotated, clip.id), _clip_audio(stream, clip.id))
    assert sorted(rotated.reference.split()) == sorted(stream.reference.split())
    assert stream.rotated(0) is stream
    assert stream.rotated(len(stream.clips)) is stream


def test_the_truth_moves_with_its_clips() -> None:
    stream = build_stream()
    truth = _truth(stream)
    rotated = stream.rotated(3)
    moved = truth.moved(stream, rotated)
    assert moved.stream_digest == rotated.digest()
    assert [w.clip_id for w in moved.words] == [c.id for c in rotated.clips]  # in the new order
    for word in moved.words:
        clip = next(c for c in rotated.clips if c.id == word.clip_id)
        assert word.start_s == pytest.approx(clip.start_s + 0.1)
        assert word.end_s == pytest.approx(clip.start_s + 0.3)


def test_independent_sessions_start_at_spread_clips_and_unison_ones_do_not() -> None:
    stream = build_stream()
    truth = _truth(stream)
    lanes = lanes_for(stream, truth, "independent", 8, burst=2)
    assert len(lanes) == 10
    firsts = [s.clips[0].id for s, _ in lanes[:8]]
    assert len(set(firsts)) == 8  # eight different places in the clips
    assert lanes[0][0] is stream  # session 0 streams the stream as it is (N=1 is unchanged)
    assert all(t.stream_digest == s.digest() for s, t in lanes)
    assert all(s is stream for s, _ in lanes_for(stream, truth, "unison", 8))
