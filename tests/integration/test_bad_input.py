"""Bad frames get an ``error`` with a stable code; the session lives on and still transcribes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import (
    Stack,
    of_type,
    read_until,
    rejected,
    send_audio,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("channel", "frame", "code"),
    [
        ("control", "{not json", "invalid_message"),
        ("control", '["start_stream"]', "invalid_message"),
        ("control", '{"type": "rewind"}', "unknown_command"),
        ("control", '{"type": "finalize", "now": true}', "invalid_message"),
        ("control", b"\x00\x00", "wrong_frame_type"),
        ("control", '{"type": "start_stream"}', "invalid_state"),
        ("control", '{"type": "resume_stream"}', "invalid_state"),
        ("control", '{"type": "configure", "options": {"audio": {"sample_rate": 8000}}}', "invalid_state"),
        ("control", '{"type": "configure", "options": {"vad": {"post_speech_silence": 99}}}', "invalid_message"),
        # a command on the attached audio socket is refused, not obeyed
        ("audio", '{"type": "stop_stream"}', "wrong_frame_type"),
        ("audio", bytes(8194), "frame_too_large"),
        ("audio", bytes(3201), "misaligned_audio"),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "unknown-command",
        "unknown-field",
        "binary-on-control",
        "second-start",
        "resume-while-streaming",
        "configure-audio-format",
        "configure-bad-option",
        "text-on-attached-audio",
        "frame-too-large",
        "odd-byte-count",
    ],
)
def test_bad_frame_on_a_running_session(
    stack: Stack, speech: Callable[..., bytes], channel: str, frame: str | bytes, code: str
) -> None:
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            ws = control if channel == "control" else audio
            if isinstance(frame, bytes):
                ws.send_bytes(frame)
            else:
                ws.send_text(frame)
            # errors of either socket reach the control socket, which carries the results
            (error,) = read_until(control, "error")
            assert error == {
                "session_id": sid,
                "type": "error",
                "code": code,
                "message": error["message"],
                "fatal": False,
            }
            assert error["message"]

            send_audio(audio, speech("sb_spk1_snt3.wav"))
            assert read_until(control, "final_result")[-1]["seq"] == 1
            messages, close = stop(control)
    assert messages[-1]["type"] == "session_ended" and messages[-1]["finals"] == 1
    assert close == 1000


def test_oversized_frame_is_refused_and_reported_on_control(stack: Stack) -> None:
    # larger than any frame of any encoding: the session's decoder refuses it, the session goes on
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            audio.send_bytes(bytes(70_000))
            messages, close = stop(control)
    errors = of_type(messages, "error")
    assert [e["code"] for e in errors] == ["frame_too_large"] and errors[0]["fatal"] is False
    assert close == 1000


@pytest.mark.parametrize("channel", ["control", "audio"])
@pytest.mark.parametrize(
    ("first", "code"),
    [
        ('{"type": "start_stream", "options": {"audio": {"sample_rate": 4000}}}', "invalid_message"),
        ('{"type": "start_stream", "options": {"language": "english please"}}', "invalid_message"),
        ('{"type": "start_stream", "last_seq": -1}', "invalid_message"),
        ('{"type": "pause_stream"}', "invalid_state"),
        ('{"type": "stop_stream"}', "invalid_state"),
        ("{not json", "invalid_message"),
        (b"\x00\x00", None),  # control: wrong_frame_type; standalone audio: audio_before_start
    ],
    ids=["sample-rate", "language", "negative-last-seq", "pause", "stop", "malformed-json", "audio"],
)
def test_bad_first_frame_then_a_good_start(
    stack: Stack, speech: Callable[..., bytes], channel: str, first: str | bytes, code: str | None
) -> None:
    connect = stack.control if channel == "control" else stack.audio
    if code is None:
        code = "wrong_frame_type" if channel == "control" else "audio_before_start"
    with connect() as ws:
        if isinstance(first, bytes):
            ws.send_bytes(first)
        else:
            ws.send_text(first)
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == code and error["fatal"] is False
        assert "Traceback" not in error["message"] and "pydantic" not in error["message"]

        sid = start(ws)["session_id"]
        if channel == "control":
            with stack.audio(session_id=sid) as audio:
                send_audio(audio, speech("sb_spk2_snt5.wav"))
                assert read_until(ws, "final_result")[-1]["seq"] == 1
        else:
            send_audio(ws, speech("sb_spk2_snt5.wav"))
            assert read_until(ws, "final_result")[-1]["seq"] == 1
        messages, close = stop(ws)
    assert messages[-1]["type"] == "session_ended" and close == 1000
    assert stack.errors(code) == 1


@pytest.mark.parametrize("path", ["/v1/stream/control", "/v1/stream/audio"])
@pytest.mark.parametrize("session_id", ["has space", "x" * 65, "a/b", "ünï"])
def test_malformed_session_id_closes_the_socket(stack: Stack, path: str, session_id: str) -> None:
    connect = stack.control if path.endswith("control") else stack.audio
    with connect(session_id=session_id) as ws:
        error, code = rejected(ws)
    assert error["code"] == "invalid_message" and code == 4400
