"""A dropped control socket: the session goes on, and a new socket resumes it with the finals it missed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.integration.conftest import (
    Stack,
    of_type,
    read_until,
    read_until_closed,
    rejected,
    send_audio,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(30)


def test_resume_replays_missed_finals_exactly_once(stack: Stack, speech: Callable[..., bytes]) -> None:
    with contextlib.ExitStack() as sockets:
        control = sockets.enter_context(stack.control())
        sid = start(control)["session_id"]
        audio = sockets.enter_context(stack.audio(session_id=sid))
        send_audio(audio, speech("sb_spk1_snt1.wav"))
        assert read_until(control, "final_result")[-1]["seq"] == 1
        control.close()  # the client drops the control socket without stop_stream
        # audio keeps flowing on its own socket
        send_audio(audio, speech("sb_spk2_snt2.wav", "sb_spk1_snt3.wav", lead_s=0.0))

        with stack.control(session_id=sid) as control:
            resumed = start(control, last_seq=1)
            assert resumed["session_id"] == sid and resumed["resumed"] is True
            messages = read_until(control, "final_result")
            messages += read_until(control, "final_result")
        assert {m["session_id"] for m in messages} == {sid}
        assert [f["seq"] for f in of_type(messages, "final_result")] == [2, 3]

        # by now both finals exist: a second resume gets them replayed, in order, before anything else
        with stack.control(session_id=sid) as control:
            control.send_json({"type": "start_stream", "last_seq": 1})
            replayed = [control.receive_json() for _ in range(3)]
            assert [m["type"] for m in replayed] == ["session_started", "final_result", "final_result"]
            assert replayed[0]["resumed"] is True
            assert [m["seq"] for m in replayed[1:]] == [2, 3]
            assert [m["data"]["text"] for m in replayed[1:]] == [
                f["data"]["text"] for f in of_type(messages, "final_result")
            ]

            after, code = stop(control)
    assert of_type(after, "final_result") == []
    assert after[-1]["type"] == "session_ended" and after[-1]["reason"] == "stopped" and after[-1]["finals"] == 3
    assert code == 1000


def test_resume_with_the_last_final_seen_replays_nothing(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.audio() as audio:
        sid = start(audio)["session_id"]
        send_audio(audio, speech("sb_spk2_snt1.wav"))
        read_until(audio, "final_result")
    with stack.audio(session_id=sid) as audio:
        audio.send_json({"type": "start_stream", "last_seq": 1})
        assert audio.receive_json()["resumed"] is True
        after, code = stop(audio)
    assert [m["type"] for m in after] == ["session_ended"] and after[0]["finals"] == 1
    assert code == 1000


def test_another_client_cannot_resume_a_session(stack: Stack) -> None:
    with stack.control() as control:
        sid = start(control)["session_id"]
    with stack.control("key-b", session_id=sid) as thief:
        thief.send_json({"type": "start_stream", "last_seq": 0})
        error, code = rejected(thief)
    assert error["code"] == "session_not_found" and code == 4404
    # the owner still can
    with stack.control(session_id=sid) as control:
        assert start(control, last_seq=0)["resumed"] is True
        assert stop(control)[1] == 1000


@pytest.mark.parametrize("query", [{"session_id": "never-started"}, {}])
def test_resuming_a_session_that_does_not_exist(stack: Stack, query: dict[str, str]) -> None:
    with stack.control(**query) as control:
        control.send_json({"type": "start_stream", "last_seq": 1})
        error, code = rejected(control)
    assert error["code"] == "session_not_found" and code == 4404


def test_a_resume_after_the_end_gets_the_end_then_the_session_is_gone(serve: Callable[..., Stack]) -> None:
    """A client whose socket dropped during the flush resumes and learns how the session ended (the
    finals it missed, ``session_ended``, close 1000), and the session takes no more audio; once the
    resume grace has passed, a resume is answered 4404 as for a session that never existed."""
    stack = serve(resume_grace_s=0.2, reap_interval_s=0.05)
    with stack.control() as control:
        sid = start(control)["session_id"]
        stop(control)
    with stack.control(session_id=sid) as control:
        resumed = start(control, last_seq=0, audio_offset_bytes=0)
        assert resumed["resumed"] is True and resumed["audio_offset_bytes"] is None  # no audio wanted
        rest, code = read_until_closed(control)
    assert [m["type"] for m in rest] == ["session_ended"] and rest[0]["reason"] == "stopped" and code == 1000

    deadline = time.monotonic() + 5.0
    while True:
        with stack.control(session_id=sid) as control:
            control.send_json({"type": "start_stream", "last_seq": 0})
            first = control.receive_json()
            if first["type"] == "error":
                with pytest.raises(WebSocketDisconnect) as closed:
                    control.receive_json()
                break
        assert time.monotonic() < deadline, "the ended session was never forgotten"
    assert first["code"] == "session_not_found" and first["fatal"] is True
    assert closed.value.code == 4404
