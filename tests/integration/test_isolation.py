"""A session answers only the client that started it, and sessions never see each other's messages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import (
    CHUNK_BYTES,
    Message,
    Stack,
    of_type,
    read_until,
    rejected,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("channel", ["control", "audio"])
def test_another_client_cannot_join_a_session(stack: Stack, channel: str) -> None:
    with stack.control("key-a") as control:
        sid = start(control)["session_id"]
        connect = stack.control if channel == "control" else stack.audio
        with connect("key-b", session_id=sid) as intruder:
            intruder.send_json({"type": "start_stream", "last_seq": 0})
            error, code = rejected(intruder)
        # answered as a session that does not exist: its existence is not revealed
        assert error["code"] == "session_not_found" and code == 4404
        with connect("key-b", session_id="never-was") as prober:
            prober.send_json({"type": "start_stream", "last_seq": 0})
            alike = {**error, "session_id": "never-was", "message": error["message"].replace(sid, "never-was")}
            assert rejected(prober) == (alike, code)
        # the owner's session is untouched
        messages, code = stop(control)
        assert messages[-1]["type"] == "session_ended" and code == 1000
    assert stack.errors("session_not_found") == 2


def test_the_handshake_reveals_no_other_clients_session(stack: Stack) -> None:
    """An audio socket naming another client's live session and one naming an unknown id are answered
    alike: both open, and audio on either is ``audio_before_start``."""
    with stack.control("key-a") as control:
        sid = start(control)["session_id"]
        answers = []
        for target in (sid, "no-such-session"):
            with stack.audio("key-b", session_id=target) as intruder:
                intruder.send_bytes(bytes(3200))
                answers.append(intruder.receive_json())
        assert answers[0] == {**answers[1], "session_id": sid} and answers[0]["code"] == "audio_before_start"
        assert stop(control)[1] == 1000


def test_another_client_cannot_start_a_session_under_a_taken_id(stack: Stack) -> None:
    with stack.audio("key-a", session_id="taken-1") as owner:
        start(owner)
        with stack.audio("key-b", session_id="taken-1") as intruder:
            intruder.send_json({"type": "start_stream"})
            error, code = rejected(intruder)
        assert error["code"] == "session_not_found" and code == 4404
        assert stop(owner)[1] == 1000


def test_concurrent_sessions_get_only_their_own_messages(stack: Stack, speech: Callable[..., bytes]) -> None:
    clips = {"key-a": speech("sb_spk1_snt1.wav"), "key-b": speech("sb_spk2_snt2.wav", "sb_spk2_snt3.wav")}
    with stack.control("key-a") as control_a, stack.control("key-b") as control_b:
        sid_a, sid_b = start(control_a)["session_id"], start(control_b)["session_id"]
        assert sid_a != sid_b
        with stack.audio("key-a", session_id=sid_a) as audio_a, stack.audio("key-b", session_id=sid_b) as audio_b:
            # interleaved frames, as two live clients would send them
            longest = max(len(pcm) for pcm in clips.values())
            for i in range(0, longest, CHUNK_BYTES):
                for audio, key in ((audio_a, "key-a"), (audio_b, "key-b")):
                    if i < len(clips[key]):
                        audio.send_bytes(clips[key][i : i + CHUNK_BYTES])
            got_a = read_until(control_a, "final_result")
            got_b = read_until(control_b, "final_result") + read_until(control_b, "final_result")
            ended_a, code_a = stop(control_a)
            ended_b, code_b = stop(control_b)

    def check(messages: list[Message], sid: str, finals: int) -> None:
        assert {m["session_id"] for m in messages} == {sid}
        assert [f["seq"] for f in of_type(messages, "final_result")] == list(range(1, finals + 1))
        assert messages[-1]["type"] == "session_ended" and messages[-1]["finals"] == finals

    check(got_a + ended_a, sid_a, 1)
    check(got_b + ended_b, sid_b, 2)
    assert code_a == code_b == 1000
