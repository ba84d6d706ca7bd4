"""Regression tests of the hostile-input run: what a careless or hostile client tried, and what it
must get instead (a clear, bounded error; nothing transcribed lost; a server that goes on)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.audio.files import load_audio
from app.config import StoreSettings
from tests.encoding import FORMATS, encode
from tests.integration.conftest import (
    AUTH_A,
    CHUNK_BYTES,
    Message,
    Stack,
    of_type,
    read_until,
    read_until_closed,
    rejected,
    send_audio,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(60)

NESTED = "[" * 5000 + "]" * 5000


def start_together(sockets: list[WebSocketTestSession]) -> list[Message]:
    """``start_stream`` on every socket at once (threads released together); the first answer of each."""
    barrier = threading.Barrier(len(sockets))

    def go(ws: WebSocketTestSession) -> None:
        barrier.wait()
        ws.send_json({"type": "start_stream"})

    threads = [threading.Thread(target=go, args=(ws,)) for ws in sockets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [ws.receive_json() for ws in sockets]


@pytest.fixture
def store_settings(tmp_path: Path) -> StoreSettings:
    return StoreSettings(data_dir=str(tmp_path))


def _encoded(shared_data: Path, name: str, clip: str = "sb_spk1_snt3.wav") -> bytes:
    mono = load_audio(shared_data / "clips" / clip)
    padded = np.concatenate([np.zeros(8000, np.float32), mono, np.zeros(24000, np.float32)])
    return encode(np.stack([padded, padded]), 16000, FORMATS[name])


@pytest.mark.parametrize("name", ["wav-s16", "ogg-opus", "mp3"])
def test_a_stream_with_an_undecodable_chunk_can_still_be_stopped(
    serve: Callable[..., Stack], store_settings: StoreSettings, shared_data: Path, name: str
) -> None:
    stack = serve(store=store_settings)
    encoding = FORMATS[name].encoding
    garbage = np.random.default_rng(7).bytes(48 * 1024)
    with stack.control() as control:
        sid = start(control, options={"audio": {"encoding": encoding}})["session_id"]
        with stack.audio(session_id=sid) as audio:
            for i in range(0, len(garbage), 4096):
                audio.send_bytes(garbage[i : i + 4096])
            control.send_json({"type": "stop_stream", "audio_bytes": len(garbage)})
            messages, code = read_until_closed(control)
    # the bad bytes are reported as they come (never fatally); the stop still ends the session
    errors = of_type(messages, "error")
    assert errors and {(e["code"], e["fatal"]) for e in errors} == {("undecodable_audio", False)}
    assert messages[-1]["type"] == "session_ended" and code == 1000
    response = stack.client.get(f"/v1/sessions/{sid}", headers=AUTH_A)
    assert response.json()["status"] == "ended"


def test_an_empty_binary_frame_is_harmless(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            audio.send_bytes(b"")
            send_audio(audio, speech("sb_spk1_snt3.wav"))
            assert read_until(control, "final_result")[-1]["seq"] == 1
            messages, code = stop(control)
    assert of_type(messages, "error") == [] and code == 1000
    assert stack.errors("internal_error") == 0


@pytest.mark.parametrize(
    ("name", "piece"),
    [("mp3", 100), ("wav-s16", 44), ("wav-u8-8k", 7), ("ogg-opus", 100)],
    ids=["mp3-100-byte-chunks", "wav-header-alone", "wav-8k-tiny-frames", "ogg-100-byte-chunks"],
)
def test_frames_that_decode_to_no_samples_are_no_errors(stack: Stack, shared_data: Path, name: str, piece: int) -> None:
    data = _encoded(shared_data, name)
    if name.startswith("wav"):
        data += b"\x00" * 9  # bytes after the data chunk
    with stack.control() as control:
        sid = start(control, options={"audio": {"encoding": FORMATS[name].encoding}})["session_id"]
        with stack.audio(session_id=sid) as audio:
            for i in range(0, len(data), piece):
                audio.send_bytes(data[i : i + piece])
            control.send_json({"type": "stop_stream", "audio_bytes": len(data)})
            messages, code = read_until_closed(control)
    assert [m for m in messages if m["type"] == "error"] == []
    assert len(of_type(messages, "final_result")) == 1 and code == 1000
    assert stack.errors("internal_error") == 0


def test_parallel_starts_cannot_beat_the_per_client_limit(
    serve: Callable[..., Stack], store_settings: StoreSettings
) -> None:
    # with a store a start awaits its write between the check and the creation, as every Ray call does
    stack = serve(max_sessions_per_client=3, store=store_settings)
    with contextlib.ExitStack() as held:
        answers = start_together([held.enter_context(stack.control()) for _ in range(8)])
        started = [a for a in answers if a["type"] == "session_started"]
        refused = [a for a in answers if a["type"] == "error"]
        assert len(started) == 3 and len(refused) == 5
        assert {a["code"] for a in refused} == {"too_many_sessions"}
        assert stack.host.count("client-a") == 3


def test_parallel_starts_cannot_beat_the_capacity(serve: Callable[..., Stack], store_settings: StoreSettings) -> None:
    stack = serve(max_streams=3, max_sessions_per_client=10, store=store_settings)
    with contextlib.ExitStack() as held:
        answers = start_together([held.enter_context(stack.control("key-a" if i % 2 else "key-b")) for i in range(8)])
        assert sum(a["type"] == "session_started" for a in answers) == 3
        assert {a["code"] for a in answers if a["type"] == "error"} == {"at_capacity"}
        assert stack.host.count() == 3


def test_deeply_nested_json_is_an_invalid_message(stack: Stack) -> None:
    with stack.control() as control:
        control.send_text(NESTED)
        error = control.receive_json()
        assert error["code"] == "invalid_message" and not error["fatal"] and len(error["message"]) < 200
        sid = start(control)["session_id"]  # the socket still works
        control.send_text(json.dumps({"type": "configure", "options": json.loads("[" * 40 + "]" * 40)}))
        assert control.receive_json()["code"] == "invalid_message"
        assert stop(control)[1] == 1000
    response = stack.client.post("/v1/auth/token", headers=AUTH_A, content=NESTED)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_message"
    assert sid


def test_a_nested_pagination_cursor_is_an_invalid_request(
    serve: Callable[..., Stack], store_settings: StoreSettings
) -> None:
    stack = serve(store=store_settings)
    cursor = base64.urlsafe_b64encode(NESTED.encode()).decode().rstrip("=")
    response = stack.client.get(f"/v1/sessions?cursor={cursor}", headers=AUTH_A)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "options",
    [
        {"initial_prompt": "x" * 1_000_000},
        {"features": {"wake_words": {"phrases": ["hey"] * 10_000}}},
        {"features": {"topic_detection": {"topics": ["t" * 100_000]}}},
        {"x" * 100_000: 1},
        {"language": "y" * 1_000_000},
    ],
    ids=["huge-prompt", "many-phrases", "huge-topic", "huge-key", "huge-language"],
)
def test_error_messages_never_echo_huge_input(stack: Stack, options: dict[str, object]) -> None:
    with stack.control() as control:
        control.send_json({"type": "start_stream", "options": options})
        error = control.receive_json()
        assert error["code"] == "invalid_message" and len(error["message"]) < 600
        sid = start(control)["session_id"]
        control.send_json({"type": "configure", "options": options})
        error = control.receive_json()
        assert error == {**error, "code": "invalid_message", "fatal": False, "session_id": sid}
        assert len(error["message"]) < 600
        assert stop(control)[1] == 1000


def test_a_socket_that_never_starts_is_closed(serve: Callable[..., Stack]) -> None:
    stack = serve(start_timeout_s=0.3)
    for connect in (stack.control, stack.audio):
        with connect() as idle:
            error, code = rejected(idle)
        assert error["code"] == "idle_timeout" and code == 4408


def test_one_client_cannot_hold_every_socket(serve: Callable[..., Stack]) -> None:
    stack = serve(max_connections_per_client=3)
    held = [stack.control().__enter__() for _ in range(3)]
    try:
        with stack.control() as one_more:
            error, code = rejected(one_more)
        assert error["code"] == "too_many_connections" and code == 4429
        with stack.control("key-b") as other_client:  # the cap is per client
            assert start(other_client)["type"] == "session_started"
            stop(other_client)
    finally:
        for ws in held:
            ws.__exit__(None, None, None)
    with stack.control() as again:  # closed sockets free their places
        assert start(again)["type"] == "session_started"
        stop(again)


def test_an_attached_audio_socket_closes_when_its_session_ends(stack: Stack) -> None:
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            assert stop(control)[1] == 1000
            audio.send_bytes(bytes(CHUNK_BYTES))  # after the end: the audio socket closes normally
            _, code = read_until_closed(audio)
    assert code == 1000


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "3026-01-01T00:00:00Z", "1900-01-01T00:00:00Z"])
def test_an_audio_start_out_of_range_is_refused(stack: Stack, speech: Callable[..., bytes], when: str) -> None:
    with stack.control() as control:
        control.send_json({"type": "start_stream", "audio_start": when})
        error = control.receive_json()
        assert error["code"] == "invalid_message" and "audio_start" in error["message"]
        sid = start(control, audio_start="2026-01-01T00:00:00Z")["session_id"]
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, speech("sb_spk1_snt3.wav", "sb_spk2_snt1.wav"))
            messages, code = stop(control)
    finals = of_type(messages, "final_result")
    assert [f["seq"] for f in finals] == [1, 2] and messages[-1]["finals"] == 2 and code == 1000


def test_token_endpoint_validates_its_fields(stack: Stack) -> None:
    for body, fragment in (
        ({"ttl_s": True}, "ttl_s"),
        ({"ttl_s": 60.5}, "ttl_s"),
        ({"session_id": "not a valid id!"}, "session_id"),
        ({"session_id": "x" * 65}, "session_id"),
    ):
        response = stack.client.post("/v1/auth/token", headers=AUTH_A, json=body)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["code"] == "invalid_message" and fragment in error["message"]


def test_resume_without_last_seq_replays_every_final(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, speech("sb_spk1_snt3.wav", "sb_spk2_snt1.wav"))
            got = read_until(control, "final_result") + read_until(control, "final_result")
    finals = of_type(got, "final_result")
    with stack.control(session_id=sid) as again:
        assert start(again)["resumed"] is True
        assert [again.receive_json() for _ in finals] == finals
        stop(again)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("https://app.example.com", True), ("https://evil.example.net", False), (None, True)],
    ids=["listed", "not-listed", "no-origin"],
)
def test_origin_allow_list(serve: Callable[..., Stack], origin: str | None, allowed: bool) -> None:
    stack = serve(auth={"allowed_origins": ["https://app.example.com"]})
    headers = {"Origin": origin} if origin else {}
    with stack.socket("/v1/stream/control", headers=headers) as ws:
        if allowed:
            assert start(ws)["type"] == "session_started"
            stop(ws)
        else:
            error, code = rejected(ws)
            assert error["code"] == "forbidden" and code == 4403


def test_repeated_failed_authentication_is_throttled(serve: Callable[..., Stack]) -> None:
    stack = serve(auth={"failure_limit": 3, "failure_window_s": 600})
    for _ in range(3):
        with stack.control("wrong-key") as ws:
            assert rejected(ws)[0]["code"] == "unauthenticated"
    # the right key from the same address now waits out the window, on sockets and REST alike
    with stack.control() as ws:
        error, code = rejected(ws)
    assert error["code"] == "too_many_requests" and code == 4429
    response = stack.client.post("/v1/auth/token", headers=AUTH_A)
    assert response.status_code == 429 and response.json()["error"]["code"] == "too_many_requests"


def test_a_refused_socket_never_reaches_a_session(stack: Stack) -> None:
    with pytest.raises(WebSocketDisconnect), stack.control(None) as ws:
        ws.receive_json()
        ws.receive_json()
