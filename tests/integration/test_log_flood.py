"""Logs stay useful under attack: a client that repeats bad input hundreds of times gets an error for
each, and the server logs no traceback and no line per frame (README "Errors and close codes").

The Ray side of the same promise (Serve logs every exception a request raises, with its traceback)
is checked through the real stack in ``tests/e2e/test_logs_e2e.py``."""

from __future__ import annotations

import logging

import pytest

from tests.integration.conftest import Stack, start

pytestmark = pytest.mark.timeout(120)

N = 200  # repetitions of each bad input


def errors(ws: object, n: int) -> list[str]:
    return [ws.receive_json()["code"] for _ in range(n)]  # type: ignore[attr-defined]


def test_repeated_bad_input_is_answered_not_logged(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        with stack.control() as control:
            sid = start(control)["session_id"]
            for bad in ("{not json", '{"type": "nonsense"}', '{"type": "start_stream"}', "[" * 5000):
                for _ in range(N):
                    control.send_text(bad)
                assert len(set(errors(control, N))) == 1
            for _ in range(N):
                control.send_json({"type": "configure", "options": {"language": "xx"}})
            assert set(errors(control, N)) == {"invalid_message"}
            with stack.audio(session_id=sid) as audio:
                for _ in range(N):
                    audio.send_bytes(b"\0\0\0")  # not whole samples
                    audio.send_bytes(bytes(9000))  # over the frame limit
                    audio.send_text('{"type": "finalize"}')  # text on the audio socket
                # the audio socket's errors are the session's: they come on the control socket
                assert set(errors(control, 3 * N)) == {"misaligned_audio", "frame_too_large", "wrong_frame_type"}
        with stack.audio() as lone:
            for _ in range(N):
                lone.send_bytes(bytes(3200))  # audio before start_stream
            assert set(errors(lone, N)) == {"audio_before_start"}
        for _ in range(N):
            response = stack.client.get("/v1/sessions?cursor=%%%", headers={"Authorization": "Bearer key-a"})
            assert response.status_code in (400, 503)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert tracebacks == []
    # a few lines at most (the session's start and end), never one per bad frame
    assert len([r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("app")]) < 10
