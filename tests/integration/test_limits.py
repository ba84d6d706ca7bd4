"""Limits over the wire: sessions per client, audio pace, idle sessions and session length."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import (
    Stack,
    of_type,
    read_until_closed,
    rejected,
    send_audio,
    silence,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(30)


def test_a_client_may_hold_only_so_many_sessions(stack: Stack) -> None:
    assert stack.settings.limits.max_sessions_per_client == 2
    with stack.control() as first, stack.audio() as second:
        start(first)
        start(second)
        with stack.control() as third:
            third.send_json({"type": "start_stream"})
            error, code = rejected(third)
        assert error["code"] == "too_many_sessions" and code == 4429
        assert stack.errors("too_many_sessions") == 1
        # the limit is per client
        with stack.control("key-b") as other:
            start(other)
            assert stop(other)[1] == 1000
        # an ended session frees its place
        assert stop(first)[1] == 1000
        with stack.control() as again:
            start(again)
            assert stop(again)[1] == 1000
        assert stop(second)[1] == 1000


def test_audio_faster_than_real_time_is_refused(serve: Callable[..., Stack]) -> None:
    stack = serve(max_realtime_factor=1.0, realtime_burst_s=1.0)
    frames = 30  # 3 s of audio at once, against a 1 s allowance
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, silence(frames * 0.1))
            messages, code = stop(control)
    errors = of_type(messages, "error")
    assert errors and {(e["code"], e["fatal"]) for e in errors} == {("audio_too_fast", False)}
    assert messages[-1]["type"] == "session_ended" and code == 1000
    # each refused 100 ms frame is dropped, one error each; the stream keeps what was in pace
    accepted = frames - len(errors)
    assert 10 <= accepted < frames
    assert messages[-1]["audio_duration"] == pytest.approx(accepted * 0.1, abs=0.01)


@pytest.mark.parametrize("channel", ["control", "audio"])
def test_an_idle_session_is_ended(serve: Callable[..., Stack], channel: str) -> None:
    stack = serve(reap_interval_s=0.05, idle_timeout_s=0.2)
    with stack.control() if channel == "control" else stack.audio() as ws:
        sid = start(ws)["session_id"]
        messages, code = read_until_closed(ws)
    assert messages == [
        {"type": "session_ended", "session_id": sid, "reason": "idle_timeout", "audio_duration": 0.0, "finals": 0}
    ]
    assert code == 4408


def test_a_session_past_its_longest_duration_is_ended(
    serve: Callable[..., Stack], speech: Callable[..., bytes]
) -> None:
    stack = serve(reap_interval_s=0.05, max_session_duration_s=0.8, idle_timeout_s=60.0)
    with stack.audio() as ws:
        sid = start(ws)["session_id"]
        send_audio(ws, speech("sb_spk1_snt4.wav", gap_s=0.0))  # ends mid-utterance: the end flushes it
        messages, code = read_until_closed(ws)
    assert code == 4409
    ended = messages[-1]
    assert ended["type"] == "session_ended" and ended["session_id"] == sid
    assert ended["reason"] == "max_duration" and ended["finals"] == 1
    assert [f["seq"] for f in of_type(messages, "final_result")] == [1]


def test_the_service_refuses_a_session_past_its_capacity(serve: Callable[..., Stack]) -> None:
    stack = serve(max_streams=2)
    with stack.control("key-a") as first, stack.control("key-b") as second:
        start(first)
        start(second)
        with stack.control("key-b") as third:  # key-b's own limit (2) is not reached: capacity is
            third.send_json({"type": "start_stream"})
            error, code = rejected(third)
        assert error["code"] == "at_capacity" and code == 1013  # "try again later"
        assert "retry later" in error["message"]
        assert stack.errors("at_capacity") == 1
        # the sessions already admitted are untouched, and an ended one frees its place
        assert stop(first)[1] == 1000
        with stack.control("key-b") as again:
            start(again)
            assert stop(again)[1] == 1000
        assert stop(second)[1] == 1000
