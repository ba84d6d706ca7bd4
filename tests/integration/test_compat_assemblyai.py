"""AssemblyAI's Universal-Streaming v3 over the real app (TestClient), real VAD and clips, a scripted
model: Begin, Turns, ForceEndpoint, Terminate, tokens, errors with AssemblyAI's codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.compat_audio import g711, joined
from tests.integration.conftest import Stack, send_audio

pytestmark = pytest.mark.timeout(60)

KEY = {"Authorization": "key-a"}  # AssemblyAI sends the key with no scheme
WS = "/v3/ws?sample_rate=16000"


def until_closed(ws: WebSocketTestSession) -> tuple[list[dict[str, Any]], int]:
    seen: list[dict[str, Any]] = []
    for _ in range(1000):
        try:
            seen.append(ws.receive_json())
        except WebSocketDisconnect as exc:
            return seen, exc.code
    raise AssertionError("socket still open")


def terminate(ws: WebSocketTestSession) -> tuple[list[dict[str, Any]], int]:
    ws.send_text(json.dumps({"type": "Terminate"}))
    return until_closed(ws)


def test_turns_formatted_and_termination(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.client.websocket_connect(WS + "&format_turns=true", headers=KEY) as ws:
        begin = ws.receive_json()
        assert begin["type"] == "Begin" and begin["id"] and begin["expires_at"] > 1_700_000_000
        send_audio(ws, speech("sb_spk1_snt1.wav", "LDC93S1.wav"))
        seen, code = terminate(ws)
    assert code == 1000 and seen[-1]["type"] == "Termination"
    assert seen[-1]["audio_duration_seconds"] == 9
    turns = [m for m in seen if m["type"] == "Turn"]
    ends = [t for t in turns if t["end_of_turn"]]
    assert [(t["turn_order"], t["turn_is_formatted"]) for t in ends] == [(0, False), (0, True), (1, False), (1, True)]
    partials = [t for t in turns if not t["end_of_turn"]]
    assert partials and all(t["end_of_turn_confidence"] == 0.0 for t in partials)
    raw, pretty = ends[0], ends[1]
    assert raw["transcript"] == raw["transcript"].lower() and pretty["transcript"][0].isupper()
    assert pretty["transcript"].endswith(".") and raw["end_of_turn_confidence"] == 1.0
    words = pretty["words"]
    assert all(isinstance(w["start"], int) and w["word_is_final"] for w in words)  # milliseconds
    assert [w["text"] for w in words] == pretty["transcript"].split()


def test_force_endpoint_keepalive_and_update(stack: Stack, shared_data: Path) -> None:
    pcm = joined(shared_data / "clips", ["sb_spk2_snt5.wav"], tail_s=0.0)
    with stack.client.websocket_connect(WS, headers=KEY) as ws:
        assert ws.receive_json()["type"] == "Begin"
        ws.send_text(json.dumps({"type": "UpdateConfiguration", "max_turn_silence": 800}))
        ws.send_text(json.dumps({"type": "KeepAlive"}))
        send_audio(ws, pcm)
        ws.send_text(json.dumps({"type": "ForceEndpoint"}))
        for _ in range(200):
            turn = ws.receive_json()
            if turn.get("end_of_turn"):
                break
        assert turn["type"] == "Turn" and turn["turn_is_formatted"] is False
        seen, code = terminate(ws)
    assert code == 1000 and [m["type"] for m in seen] == ["Termination"]


def test_mulaw_and_query_token(stack: Stack, shared_data: Path) -> None:
    token = stack.client.get("/v3/token?expires_in_seconds=60", headers=KEY)
    assert token.status_code == 200 and token.json()["expires_in_seconds"] == 60
    audio = g711(joined(shared_data / "clips", ["sb_spk1_snt1.wav"]), "mulaw")
    with stack.client.websocket_connect(
        f"/v3/ws?sample_rate=8000&encoding=pcm_mulaw&token={token.json()['token']}"
    ) as ws:
        assert ws.receive_json()["type"] == "Begin"
        for i in range(0, len(audio), 800):
            ws.send_bytes(audio[i : i + 800])
        seen, code = terminate(ws)
    assert code == 1000 and any(m["type"] == "Turn" and m["end_of_turn"] for m in seen)


@pytest.mark.parametrize(
    ("query", "headers", "code"),
    [
        ("sample_rate=16000", {}, 1008),
        ("sample_rate=16000", {"Authorization": "wrong"}, 1008),
        ("encoding=aac&sample_rate=16000", KEY, 3006),
        ("encoding=pcm_s16le", KEY, 3006),  # sample_rate is required for PCM
        ("sample_rate=16000&keyterms_prompt=notjson", KEY, 3006),
    ],
)
def test_errors_with_assemblyai_codes(stack: Stack, query: str, headers: dict[str, str], code: int) -> None:
    with stack.client.websocket_connect(f"/v3/ws?{query}", headers=headers) as ws:
        seen, closed = until_closed(ws)
    assert closed == code
    assert [m["type"] for m in seen] == ["Error"] and seen[0]["error_code"] == code and len(seen[0]["error"]) < 300


def test_unknown_message_flushes_then_closes_3006(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.client.websocket_connect(WS, headers=KEY) as ws:
        assert ws.receive_json()["type"] == "Begin"
        send_audio(ws, speech("sb_spk1_snt1.wav"))
        ws.send_text(json.dumps({"type": "Shout"}))
        seen, code = until_closed(ws)
    assert code == 3006 and seen[-1]["type"] == "Error" and seen[-1]["error_code"] == 3006
    assert any(m["type"] == "Turn" and m["end_of_turn"] for m in seen)  # what was said is not lost


def test_too_fast_audio_is_a_warning(serve: Callable[..., Stack], speech: Callable[..., bytes]) -> None:
    stack = serve(max_realtime_factor=1.0, realtime_burst_s=0.5)
    with stack.client.websocket_connect(WS, headers=KEY) as ws:
        assert ws.receive_json()["type"] == "Begin"
        send_audio(ws, speech("sb_spk1_snt1.wav"))
        seen, code = terminate(ws)
    assert code == 1000
    warnings = [m for m in seen if m["type"] == "Warning"]
    assert warnings and warnings[0]["warning_code"] == 3007


def test_token_errors(stack: Stack) -> None:
    assert stack.client.get("/v3/token?expires_in_seconds=60").status_code == 401
    bad = stack.client.get("/v3/token?expires_in_seconds=6000", headers=KEY)
    assert bad.status_code == 400 and "expires_in_seconds" in bad.json()["error"]


def test_at_capacity_is_1013(serve: Callable[..., Stack]) -> None:
    stack = serve(max_streams=1)
    with stack.client.websocket_connect(WS, headers=KEY) as first:
        assert first.receive_json()["type"] == "Begin"
        with stack.client.websocket_connect(WS, headers=KEY) as second:
            seen, code = until_closed(second)
        assert code == 1013 and seen[0]["type"] == "Error" and seen[0]["error_code"] == 1013
        _, code = terminate(first)
    assert code == 1000
