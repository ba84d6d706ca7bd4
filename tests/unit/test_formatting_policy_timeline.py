from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.options import FormattingOptions
from app.session.timeline import Timeline
from app.streaming.formatting import format_text
from app.streaming.policy import PartialPolicy
from app.transcript import SAMPLE_RATE


def test_formatting_final_and_partial() -> None:
    opts = FormattingOptions()
    assert format_text("  hello   world", opts, final=True) == "Hello world."
    assert format_text("hello world", opts, final=False) == "Hello world"
    assert format_text("Is it?", opts, final=True) == "Is it?"
    off = FormattingOptions(ensure_sentence_starting_uppercase=False, ensure_sentence_ends_with_period=False)
    assert format_text("hello world", off, final=True) == "hello world"
    assert format_text("", opts, final=True) == ""
    assert format_text('"quoted" text', opts, final=True) == '"Quoted" text.'


def test_policy_keeps_two_requests_out_and_takes_the_schedulers_interval() -> None:
    pol = PartialPolicy(min_interval=1600, max_interval=16000, min_audio=4000)
    assert not pol.should_run(0, 3000)  # too little audio
    assert pol.should_run(0, 4000)
    pol.started(4000)
    assert not pol.should_run(0, 5000)  # less than an interval of new audio
    assert pol.should_run(0, 5600)  # one running, one may wait (a newer one supersedes it)
    pol.started(5600)
    assert not pol.should_run(0, 20000)  # two out: no more
    pol.finished(interval_s=0.05)  # the scheduler's interval, floored at min_interval
    assert pol.interval == 1600 and pol.outstanding == 1
    pol.finished(interval_s=0.5)  # under load every session asks less often
    assert pol.interval == SAMPLE_RATE // 2
    assert not pol.should_run(0, 5600 + 4000)
    assert pol.should_run(0, 5600 + 8000)
    pol.finished(interval_s=5.0)
    assert pol.interval == 16000 and pol.outstanding == 0
    pol.finished()  # no interval (a failed call): kept
    assert pol.interval == 16000
    pol.reset()
    assert pol.should_run(100000, 104000)


def test_timeline_adds_paused_gaps_back() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    tl = Timeline(t0)
    assert tl.seconds(SAMPLE_RATE) == 1.0
    tl.add_gap(SAMPLE_RATE * 2, SAMPLE_RATE * 3)  # 3 s discarded after 2 s
    assert tl.seconds(SAMPLE_RATE) == 1.0
    assert tl.seconds(SAMPLE_RATE * 2 + 1600) == 5.1
    assert tl.wall_time(SAMPLE_RATE * 4) == t0 + timedelta(seconds=7)
    tl.add_gap(SAMPLE_RATE * 2, SAMPLE_RATE)  # more discarded at the same point
    assert tl.discarded_samples == SAMPLE_RATE * 4
    assert tl.seconds(SAMPLE_RATE * 3) == 7.0
