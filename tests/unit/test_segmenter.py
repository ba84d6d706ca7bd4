"""The segmenter state machine, driven by scripted per-frame VAD verdicts (no audio, no models)."""

from __future__ import annotations

import math
import random

import pytest

from app.options import VadOptions
from app.vad import (
    FRAME_SAMPLES,
    HARD_CAP_S,
    Event,
    IllegalTransition,
    Segmenter,
    SegmenterState,
    SpeechStart,
    UtteranceEnd,
)

F = FRAME_SAMPLES
SR = 16000


class Script:
    """Feeds runs of speech/silence frames of 512 samples and records the events."""

    def __init__(self, seg: Segmenter, start_offset: int = 0) -> None:
        self.seg = seg
        self.t = start_offset
        self.events: list[Event] = []

    def run(self, speech: bool, frames: int) -> list[Event]:
        new: list[Event] = []
        for _ in range(frames):
            self.t += F
            new += self.seg.push(speech, self.t)
        self.events += new
        return new

    def speech(self, seconds: float) -> list[Event]:
        return self.run(True, frames_for(seconds))

    def silence(self, seconds: float) -> list[Event]:
        return self.run(False, frames_for(seconds))

    def ends(self) -> list[UtteranceEnd]:
        return [e for e in self.events if isinstance(e, UtteranceEnd)]

    def starts(self) -> list[SpeechStart]:
        return [e for e in self.events if isinstance(e, SpeechStart)]


def frames_for(seconds: float) -> int:
    return math.ceil(round(seconds * SR) / F)


def script(**options: float) -> Script:
    return Script(Segmenter(VadOptions.model_validate(options)))


def test_speech_start_only_after_min_speech_duration() -> None:
    s = script(min_speech_duration=0.25, pre_roll=0.3)
    s.silence(1.0)
    first_speech = s.t
    needed = frames_for(0.25)  # 8 frames of 512 reach 4000 samples
    assert s.run(True, needed - 1) == []
    assert s.seg.state is SegmenterState.PENDING
    assert not s.seg.in_speech
    assert s.run(True, 1) == [SpeechStart(1, first_speech - round(0.3 * SR))]
    assert s.seg.in_speech
    assert s.seg.utterance_id == 1
    assert s.seg.utterance_start == first_speech - 4800
    assert s.seg.last_speech_end == s.t


def test_short_blips_are_ignored() -> None:
    s = script(min_speech_duration=0.25)
    for _ in range(10):
        s.silence(0.5)
        s.run(True, 3)  # 96 ms of "speech": a click, a cough
    s.silence(1.0)
    assert s.events == []
    assert s.seg.state is SegmenterState.IDLE


def test_tiny_gaps_while_pending_still_add_up() -> None:
    s = script(min_speech_duration=0.25, pre_roll=0.0)
    s.silence(1.0)
    first = s.t
    s.run(True, 3)
    s.run(False, 3)  # 96 ms gap: tolerated
    s.run(True, 3)
    assert s.events == []
    assert s.run(True, 2) == [SpeechStart(1, first)]


def test_a_longer_gap_while_pending_drops_the_candidate() -> None:
    s = script(min_speech_duration=0.25, pre_roll=0.0)
    s.silence(1.0)
    s.run(True, 5)
    s.run(False, 4)  # 128 ms: the blip is forgotten
    second = s.t
    s.run(True, 7)
    assert s.events == []
    assert s.run(True, 1) == [SpeechStart(1, second)]


def test_zero_min_speech_starts_on_the_first_speech_frame() -> None:
    s = script(min_speech_duration=0.0, pre_roll=0.0)
    s.silence(0.5)
    assert s.run(True, 1) == [SpeechStart(1, s.t - F)]


def test_pre_roll_is_clamped_to_the_stream_start() -> None:
    s = script(pre_roll=1.0)
    s.run(False, 2)
    s.speech(0.5)
    assert s.starts() == [SpeechStart(1, 0)]


def test_pre_roll_is_clamped_to_the_origin() -> None:
    s = Script(Segmenter(VadOptions(pre_roll=1.0), start_offset=100_000), start_offset=100_000)
    s.run(True, 10)
    assert s.starts() == [SpeechStart(1, 100_000)]


def test_pre_roll_never_reaches_into_the_previous_utterance() -> None:
    s = script(pre_roll=2.0, post_speech_silence=0.3)
    s.silence(3.0)
    s.speech(1.0)
    s.silence(0.5)  # ends utterance 1
    s.speech(1.0)
    s.silence(1.0)
    first, second = s.ends()
    assert first.start == s.starts()[0].start
    assert second.start == first.end
    assert second.start > first.start


def test_utterance_ends_after_post_speech_silence_with_a_tail() -> None:
    s = script(post_speech_silence=0.6)
    s.silence(1.0)
    s.speech(1.0)
    last_speech_end = s.t
    needed = frames_for(0.6)  # 19 frames of 512 reach 9600 samples
    assert s.run(False, needed - 1) == []
    assert s.seg.in_speech
    ended = s.run(False, 1)
    assert ended == [UtteranceEnd(1, s.starts()[0].start, last_speech_end + round(0.2 * SR), "silence")]
    assert not s.seg.in_speech
    assert s.seg.utterance_id is None
    assert s.seg.utterance_start is None


def test_short_gaps_inside_speech_do_not_split() -> None:
    s = script(post_speech_silence=0.6)
    s.silence(0.5)
    for _ in range(6):
        s.speech(0.8)
        s.silence(0.4)  # pauses between words and phrases
    s.silence(1.0)
    assert len(s.starts()) == 1
    [end] = s.ends()
    assert end.reason == "silence"
    assert end.end - end.start > 6 * 0.8 * SR


def test_max_length_splits_at_the_next_pause() -> None:
    s = script(max_utterance=5.0, split_pause=0.2, post_speech_silence=1.0)
    s.silence(0.5)
    s.speech(3.0)
    s.silence(0.3)  # a pause before max_utterance: no split
    assert s.ends() == []
    s.speech(3.0)  # now past 5 s
    split_at = s.t
    s.silence(0.3)  # the next pause of split_pause ends it
    [end] = s.ends()
    assert end.reason == "max_length"
    assert end.end == split_at + round(0.2 * SR)
    s.speech(1.0)
    s.silence(1.5)
    first, second = s.ends()
    assert second.reason == "silence"
    assert second.utterance_id == 2
    assert second.start >= first.end


def test_hard_cap_cuts_speech_that_never_pauses() -> None:
    s = script(max_utterance=30.0, min_speech_duration=0.25)
    s.speech(70.0)
    ends = s.ends()
    assert [e.reason for e in ends] == ["max_length", "max_length"]
    for e in ends:
        assert e.end - e.start <= HARD_CAP_S * SR
        assert e.end - e.start > (HARD_CAP_S - 0.1) * SR
    starts = s.starts()
    assert [e.utterance_id for e in starts] == [1, 2, 3]
    # no audio is lost or shared between the pieces
    assert starts[1].start == ends[0].end
    assert starts[2].start == ends[1].end


def test_hard_cap_applies_even_when_max_utterance_pauses_never_come() -> None:
    s = script(max_utterance=10.0, split_pause=0.5, post_speech_silence=1.0)
    for _ in range(40):
        s.speech(1.0)
        s.silence(0.3)  # pauses shorter than split_pause
    assert {e.reason for e in s.ends()} == {"max_length"}
    assert all(e.end - e.start <= HARD_CAP_S * SR for e in s.ends())


def test_force_end_in_speech_ends_at_the_offset() -> None:
    s = script()
    s.silence(0.5)
    s.speech(1.0)
    offset = s.t + 100  # audio received beyond the last whole frame
    [end] = s.seg.force_end(offset, "finalize")
    assert end == UtteranceEnd(1, s.starts()[0].start, offset, "finalize")
    assert s.seg.state is SegmenterState.IDLE
    # the rest of the stream goes on; the next utterance starts after the forced end
    s.run(True, 12)
    [start] = s.starts()[1:]
    assert start.utterance_id == 2
    assert start.start >= offset


def test_a_split_ends_one_utterance_and_starts_the_next_at_the_same_point() -> None:
    s = script()
    s.silence(0.5)
    s.speech(3.0)
    first = s.starts()[0]
    at = s.t - round(1.0 * SR)  # a speaker change a second ago
    assert s.seg.split(at) == [UtteranceEnd(1, first.start, at, "speaker_change"), SpeechStart(2, at)]
    assert s.seg.state is SegmenterState.SPEAKING and s.seg.utterance_start == at and s.seg.keep_from == at
    # the second speaker goes on, then stops: the second utterance ends on silence as usual
    s.speech(1.0)
    s.silence(1.0)
    [end] = s.ends()
    assert (end.utterance_id, end.start, end.reason) == (2, at, "silence")


def test_a_split_outside_the_utterance_does_nothing() -> None:
    s = script()
    s.silence(0.5)
    assert s.seg.split(s.t) == []  # no utterance
    s.speech(2.0)
    start = s.starts()[0].start
    assert s.seg.split(start) == [] and s.seg.split(s.t + 1) == []  # at its start, past the audio
    assert s.seg.utterance_id == 1


def test_force_end_in_trailing_silence_keeps_only_the_tail() -> None:
    s = script(post_speech_silence=2.0)
    s.speech(1.0)
    last = s.t
    s.silence(1.0)
    [end] = s.seg.force_end(s.t, "pause")
    assert end.end == last + round(0.2 * SR)
    assert end.reason == "pause"


def test_force_end_out_of_speech_emits_nothing() -> None:
    s = script()
    s.silence(1.0)
    assert s.seg.force_end(s.t, "finalize") == []
    s.run(True, 3)  # pending, not yet an utterance
    assert s.seg.force_end(s.t, "finalize") == []
    assert s.seg.state is SegmenterState.IDLE  # the candidate is dropped
    s.run(True, 5)
    assert s.events == []  # it needs its full min_speech_duration again


@pytest.mark.parametrize("reason", ["finalize", "pause"])
def test_forced_reasons_pass_through(reason: str) -> None:
    s = script()
    s.speech(1.0)
    [end] = s.seg.force_end(s.t, reason)  # type: ignore[arg-type]
    assert end.reason == reason


def test_stop_closes_the_segmenter() -> None:
    s = script()
    s.speech(1.0)
    [end] = s.seg.force_end(s.t, "stop")
    assert end.reason == "stop"
    assert s.seg.state is SegmenterState.CLOSED
    with pytest.raises(IllegalTransition):
        s.seg.push(True, s.t + F)
    with pytest.raises(IllegalTransition):
        s.seg.force_end(s.t, "finalize")


def test_stop_when_idle_also_closes() -> None:
    s = script()
    s.silence(1.0)
    assert s.seg.force_end(s.t, "stop") == []
    with pytest.raises(IllegalTransition):
        s.seg.force_end(s.t, "stop")


def test_time_must_move_forward() -> None:
    s = script()
    s.run(True, 3)
    with pytest.raises(ValueError, match="does not follow"):
        s.seg.push(True, s.t)  # the same frame again
    with pytest.raises(ValueError, match="does not follow"):
        s.seg.push(True, s.t + 10, frame_start=s.t + 20)
    with pytest.raises(ValueError, match="before the end"):
        s.seg.force_end(s.t - 1, "finalize")


def test_utterance_ids_increase_per_stream() -> None:
    s = script()
    for _ in range(3):
        s.silence(1.0)
        s.speech(1.0)
    s.silence(1.0)
    assert [e.utterance_id for e in s.starts()] == [1, 2, 3]
    assert [e.utterance_id for e in s.ends()] == [1, 2, 3]
    assert [e.reason for e in s.ends()] == ["silence"] * 3
    other = script()
    other.speech(1.0)
    assert [e.utterance_id for e in other.starts()] == [1]
    resumed = Script(Segmenter(VadOptions(), first_utterance_id=4))
    resumed.speech(1.0)
    assert [e.utterance_id for e in resumed.starts()] == [4]


def test_a_gap_in_the_frames_counts_as_silence() -> None:
    s = script(post_speech_silence=0.6)
    s.speech(1.0)
    last = s.t
    gap_end = s.t + SR  # one second of audio lost
    [end] = s.seg.push(True, gap_end + F, frame_start=gap_end)
    assert end == UtteranceEnd(1, s.starts()[0].start, last + round(0.2 * SR), "silence")


def test_keep_from_tracks_what_audio_is_still_needed() -> None:
    s = script(pre_roll=0.3)
    s.silence(2.0)
    assert s.seg.keep_from == s.t - 4800
    first = s.t
    s.run(True, 3)
    assert s.seg.keep_from == first - 4800
    s.speech(0.5)
    assert s.seg.keep_from == s.starts()[0].start
    s.silence(1.0)
    end = s.ends()[0].end
    assert s.seg.keep_from == max(s.t - 4800, end)


def test_reconfigure_applies_to_the_utterance_in_progress() -> None:
    s = script(post_speech_silence=2.0)
    s.speech(1.0)
    s.silence(0.5)
    assert s.seg.in_speech
    s.seg.reconfigure(VadOptions(post_speech_silence=0.5))
    s.run(False, 1)
    assert [e.reason for e in s.ends()] == ["silence"]


def test_random_streams_keep_the_invariants() -> None:
    rng = random.Random(7)
    for _ in range(30):
        options = VadOptions(
            min_speech_duration=rng.choice([0.0, 0.1, 0.25, 0.5]),
            post_speech_silence=rng.choice([0.2, 0.6, 1.5]),
            pre_roll=rng.choice([0.0, 0.3, 1.0]),
            max_utterance=rng.choice([2.0, 5.0, 30.0]),
            split_pause=0.1,
        )
        s = Script(Segmenter(options))
        for _ in range(200):
            s.run(rng.random() < 0.6, rng.randint(1, 40))
            if rng.random() < 0.05:
                s.events += s.seg.force_end(s.t + rng.randint(0, F - 1), "finalize")
        s.events += s.seg.force_end(s.t, "stop")
        starts, ends = s.starts(), s.ends()
        assert [e.utterance_id for e in starts] == list(range(1, len(starts) + 1))
        assert [(e.utterance_id, e.start) for e in ends] == [(e.utterance_id, e.start) for e in starts]
        previous_end = 0
        for e in ends:
            assert previous_end <= e.start < e.end <= e.start + HARD_CAP_S * SR
            previous_end = e.end
        # events alternate start, end, start, end …
        assert [type(e) for e in s.events] == [SpeechStart, UtteranceEnd] * len(starts)


def _weak(s: Script, seconds: float) -> list[Event]:
    """Speech held only by the VAD's hysteresis or too quiet to be confident (``confident=False``)."""
    new: list[Event] = []
    for _ in range(frames_for(seconds)):
        s.t += F
        new += s.seg.push(True, s.t, confident=False)
    s.events += new
    return new


def test_the_vads_hangover_is_not_counted_as_speech_when_ending() -> None:
    s = script(post_speech_silence=0.6)
    s.speech(1.0)
    confident_end = s.t
    _weak(s, 0.2)  # a fading tail the VAD still calls speech
    weak_end = s.t
    found_at = None
    for _ in range(frames_for(1.0)):
        if s.run(False, 1):
            found_at = s.t
            break
    # found post_speech_silence after the confident speech, not after the tail …
    assert found_at is not None and found_at - confident_end < round(0.6 * SR) + F
    assert found_at < weak_end + round(0.6 * SR)
    (end,) = s.ends()
    assert end.end == weak_end + round(0.2 * SR)  # … and its audio keeps the tail (and the tail pad)


def test_long_quiet_speech_is_speech() -> None:
    s = script(post_speech_silence=0.6)
    s.speech(1.0)
    _weak(s, 0.9)  # longer than the hangover: a quiet word, not a tail
    assert s.ends() == []
    s.silence(0.5)
    assert s.ends() == []  # 0.5 s after the quiet speech: not yet
    s.silence(0.2)
    assert len(s.ends()) == 1


def test_a_quiet_remainder_ends_the_utterance_without_waiting_for_the_next_frame() -> None:
    s = script(post_speech_silence=0.6)
    s.speech(1.0)
    speech_end = s.t
    s.run(False, frames_for(0.6) - 1)  # one frame short of the silence that ends it
    assert s.ends() == []
    assert s.seg.quiet_until(s.t + 100) == []  # not enough yet
    (end,) = s.seg.quiet_until(speech_end + round(0.6 * SR))
    assert isinstance(end, UtteranceEnd) and end.reason == "silence"
