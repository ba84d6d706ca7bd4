"""Deepgram's API over the real app (TestClient), real VAD and clips, a scripted model: the wire
shapes, Finalize / CloseStream, telephony audio, containers, auth and parameter errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.config import StoreSettings
from tests.compat_audio import g711, joined, wav_bytes
from tests.integration.conftest import Stack, send_audio

pytestmark = pytest.mark.timeout(60)

TOKEN = {"Authorization": "Token key-a"}
LIVE = "/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000"


def until_closed(ws: WebSocketTestSession) -> tuple[list[dict[str, Any]], int, str]:
    seen: list[dict[str, Any]] = []
    for _ in range(1000):
        try:
            seen.append(ws.receive_json())
        except WebSocketDisconnect as exc:
            return seen, exc.code, exc.reason
    raise AssertionError("socket still open")


def close_stream(ws: WebSocketTestSession) -> tuple[list[dict[str, Any]], int, str]:
    ws.send_text(json.dumps({"type": "CloseStream"}))
    return until_closed(ws)


def test_live_results_speech_final_utterance_end_metadata(stack: Stack, speech: Callable[..., bytes]) -> None:
    url = LIVE + "&interim_results=true&vad_events=true&utterance_end_ms=1000&punctuate=true&diarize=false"
    with stack.client.websocket_connect(url, headers=TOKEN) as ws:
        send_audio(ws, speech("sb_spk1_snt1.wav", "LDC93S1.wav"))
        seen, code, _ = close_stream(ws)
    assert code == 1000
    kinds = [m["type"] for m in seen]
    assert kinds[0] == "SpeechStarted" and kinds[-1] == "Metadata", kinds
    finals = [m for m in seen if m["type"] == "Results" and m["is_final"]]
    interim = [m for m in seen if m["type"] == "Results" and not m["is_final"]]
    assert len(finals) == 2 and interim and kinds.count("UtteranceEnd") == 2
    for final in finals:
        assert final["speech_final"] is True and final["from_finalize"] is False
        assert final["channel_index"] == [0, 1]
        alternative = final["channel"]["alternatives"][0]
        assert alternative["transcript"][0].isupper() and alternative["transcript"].endswith(".")
        words = alternative["words"]
        assert words[0]["word"].islower() and words[0]["punctuated_word"][0].isupper()
        assert final["start"] <= words[0]["start"] < words[-1]["end"] <= final["start"] + final["duration"] + 0.01
        assert final["metadata"]["model_info"]["name"] == "nova-3"
    end = seen[kinds.index("UtteranceEnd")]
    assert end["last_word_end"] == finals[0]["channel"]["alternatives"][0]["words"][-1]["end"]
    metadata = seen[-1]
    assert metadata["request_id"] == finals[0]["metadata"]["request_id"] and metadata["duration"] > 8
    assert len(metadata["sha256"]) == 64 and metadata["channels"] == 1


def test_defaults_unpunctuated_finals_only(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.client.websocket_connect(LIVE, headers=TOKEN) as ws:
        send_audio(ws, speech("sb_spk1_snt1.wav"))
        seen, code, _ = close_stream(ws)
    assert code == 1000
    assert [m["type"] for m in seen] == ["Results", "Metadata"]  # no interim, no VAD events by default
    alternative = seen[0]["channel"]["alternatives"][0]
    assert alternative["transcript"] == alternative["transcript"].lower() and "." not in alternative["transcript"]
    assert "punctuated_word" not in alternative["words"][0]


def test_finalize_marks_from_finalize(stack: Stack, shared_data: Path) -> None:
    pcm = joined(shared_data / "clips", ["sb_spk2_snt5.wav"], tail_s=0.0)
    with stack.client.websocket_connect(LIVE, headers=TOKEN) as ws:
        send_audio(ws, pcm)
        ws.send_text(json.dumps({"type": "Finalize"}))
        result = ws.receive_json()
        assert result["type"] == "Results" and result["is_final"] and result["from_finalize"]
        assert result["speech_final"] is False
        ws.send_text(json.dumps({"type": "KeepAlive"}))
        seen, code, _ = close_stream(ws)
    assert code == 1000 and [m["type"] for m in seen] == ["Metadata"]


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_telephony_audio(stack: Stack, shared_data: Path, law: str) -> None:
    audio = g711(joined(shared_data / "clips", ["sb_spk1_snt1.wav"]), law)
    with stack.client.websocket_connect(f"/v1/listen?encoding={law}&sample_rate=8000", headers=TOKEN) as ws:
        for i in range(0, len(audio), 1601):  # odd chunks: samples are bytes, any cut works
            ws.send_bytes(audio[i : i + 1601])
        seen, code, _ = close_stream(ws)
    assert code == 1000 and [m["type"] for m in seen] == ["Results", "Metadata"]
    assert 2.5 < seen[-1]["duration"] < 5


def test_wav_stream_without_encoding_and_misaligned_pcm(stack: Stack, shared_data: Path) -> None:
    pcm = joined(shared_data / "clips", ["sb_spk1_snt1.wav"])
    with stack.client.websocket_connect("/v1/listen", headers=TOKEN) as ws:
        data = wav_bytes(pcm)
        for i in range(0, len(data), 40000):  # larger than any frame limit: re-cut by the server
            ws.send_bytes(data[i : i + 40000])
        seen, code, _ = close_stream(ws)
    assert code == 1000 and [m["type"] for m in seen] == ["Results", "Metadata"]
    with stack.client.websocket_connect(LIVE, headers=TOKEN) as ws:
        for i in range(0, len(pcm), 3333):  # odd byte counts: a split sample waits for the next frame
            ws.send_bytes(pcm[i : i + 3333])
        seen, code, _ = close_stream(ws)
    assert code == 1000 and [m["type"] for m in seen] == ["Results", "Metadata"]


def test_undecodable_audio_closes_with_data_error(stack: Stack) -> None:
    with stack.client.websocket_connect("/v1/listen", headers=TOKEN) as ws:
        ws.send_bytes(b"this is not any audio container" * 10)
        seen, code, reason = until_closed(ws)
    assert (code, reason, seen) == (1008, "DATA-0000", [])


def test_bad_text_message_is_a_schema_error(stack: Stack) -> None:
    with stack.client.websocket_connect(LIVE, headers=TOKEN) as ws:
        ws.send_text("{not json")
        error = ws.receive_json()
        assert error["type"] == "Error" and error["variant"] == "SchemaError"
        ws.send_text(json.dumps({"type": "Configure", "keyterms": ["rtstt"]}))
        reply = ws.receive_json()
        assert reply["type"] in ("ConfigureSuccess", "ConfigureFailure")
        _, code, _ = close_stream(ws)
    assert code == 1000


@pytest.mark.parametrize(
    ("headers", "subprotocols", "status"),
    [({}, [], 401), ({"Authorization": "Token wrong"}, [], 401), ({"Authorization": "Basic key-a"}, [], 401)],
)
def test_auth_failures_refuse_the_handshake(
    stack: Stack, headers: dict[str, str], subprotocols: list[str], status: int
) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        stack.client.websocket_connect(LIVE, headers=headers, subprotocols=subprotocols),
    ):
        pass
    assert denied.value.status_code == status
    assert denied.value.json()["err_code"] == "INVALID_AUTH"


def test_token_subprotocol_and_grant_jwt(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.client.websocket_connect(LIVE, subprotocols=["token", "key-a"]) as ws:
        assert ws.accepted_subprotocol == "token"
        _, code, _ = close_stream(ws)
    assert code == 1000
    grant = stack.client.post("/v1/auth/grant", json={"ttl_seconds": 30}, headers=TOKEN)
    assert grant.status_code == 200 and grant.json()["expires_in"] == 30
    jwt = grant.json()["access_token"]
    with stack.client.websocket_connect(LIVE, headers={"Authorization": f"Bearer {jwt}"}) as ws:
        send_audio(ws, speech("sb_spk1_snt1.wav"))
        seen, code, _ = close_stream(ws)
    assert code == 1000 and seen[0]["type"] == "Results"
    bad = stack.client.post("/v1/auth/grant", json={"ttl_seconds": 0}, headers=TOKEN)
    assert bad.status_code == 400 and bad.json()["err_code"] == "Bad Request"


@pytest.mark.parametrize(
    "query",
    [
        "encoding=flac&sample_rate=16000",
        "encoding=linear16",
        "sample_rate=100&encoding=linear16",
        "callback=http://x",
        "language=%%%",
        "channels=3&encoding=linear16&sample_rate=16000",
        "interim_results=maybe",
    ],
)
def test_bad_parameters_refuse_the_handshake(stack: Stack, query: str) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        stack.client.websocket_connect(f"/v1/listen?{query}", headers=TOKEN),
    ):
        pass
    assert denied.value.status_code == 400
    body = denied.value.json()
    assert body["err_code"] == "Bad Request" and len(body["err_msg"]) < 300


def test_client_that_vanishes_still_leaves_a_stored_session(
    serve: Callable[..., Stack], tmp_path: Path, speech: Callable[..., bytes]
) -> None:
    stack = serve(store=StoreSettings(data_dir=str(tmp_path)))
    with stack.client.websocket_connect(LIVE + "&interim_results=true", headers=TOKEN) as ws:
        send_audio(ws, speech("sb_spk1_snt1.wav"))
        first = ws.receive_json()
        request_id = first["metadata"]["request_id"]
    # no CloseStream: the socket just closed; the session is flushed and stored all the same
    auth = {"Authorization": "Bearer key-a"}
    for _ in range(100):
        body = stack.client.get(f"/v1/sessions/{request_id}", headers=auth).json()
        if body.get("status") == "ended":
            break
        stack.call(__import__("asyncio").sleep, 0.05)
    assert body["status"] == "ended" and body["finals"] == 1, body


def test_prerecorded_response_and_storage(serve: Callable[..., Stack], tmp_path: Path, shared_data: Path) -> None:
    stack = serve(store=StoreSettings(data_dir=str(tmp_path)))
    audio = wav_bytes(joined(shared_data / "clips", ["sb_spk1_snt1.wav", "LDC93S1.wav", "sb_spk2_snt1.wav"]))
    r = stack.client.post("/v1/listen?model=nova-3&utterances=true&punctuate=true", content=audio, headers=TOKEN)
    assert r.status_code == 200, r.text
    body = r.json()
    meta = body["metadata"]
    assert meta["duration"] == pytest.approx((len(audio) - 44) / 32000, abs=0.01) and meta["channels"] == 1
    assert meta["model_info"][meta["models"][0]]["name"] == "nova-3"
    alternative = body["results"]["channels"][0]["alternatives"][0]
    utterances = body["results"]["utterances"]
    assert len(utterances) == 3 and [u["speaker"] for u in utterances] == [0, 0, 0]
    assert alternative["words"] and all(0 <= w["confidence"] <= 1 for w in alternative["words"])
    assert utterances[0]["end"] < utterances[1]["start"] < utterances[1]["end"] < utterances[2]["start"]
    stored = stack.client.get(f"/v1/sessions/{meta['request_id']}/transcript?format=json", headers=TOKEN)
    assert stored.status_code == 401  # the REST API speaks this service's auth, not Deepgram's
    stored = stack.client.get(
        f"/v1/sessions/{meta['request_id']}/transcript?format=json", headers={"Authorization": "Bearer key-a"}
    )
    assert stored.status_code == 200 and len(stored.json()["finals"]) == 3
    assert stored.json()["session"]["status"] == "ended"
    # raw telephony audio needs encoding and sample_rate
    raw = g711(joined(shared_data / "clips", ["sb_spk1_snt1.wav"]), "mulaw")
    r = stack.client.post("/v1/listen?encoding=mulaw&sample_rate=8000", content=raw, headers=TOKEN)
    assert r.status_code == 200 and r.json()["results"]["channels"][0]["alternatives"][0]["transcript"]


def test_prerecorded_errors_in_deepgram_shape(serve: Callable[..., Stack], shared_data: Path) -> None:
    stack = serve()
    stack.settings.prerecorded.max_upload_bytes = 50_000
    url = "/v1/listen"
    cases = [
        (stack.client.post(url, content=b"RIFF....", headers={"Authorization": "Token wrong"}), 401),
        (stack.client.post(url, json={"url": "https://example.com/a.wav"}, headers=TOKEN), 400),
        (stack.client.post(url, content=b"\x00" * 60_000, headers=TOKEN), 413),
        (stack.client.post(url, content=b"not audio at all, not even close" * 10, headers=TOKEN), 400),
        (stack.client.post(url, content=b"", headers=TOKEN), 400),
        (stack.client.post(url + "?redact=pci", content=b"x", headers=TOKEN), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, (status, response.text)
        body = response.json()
        assert set(body) == {"err_code", "err_msg", "request_id"} and len(body["err_msg"]) < 300
    assert "network" in cases[1][0].json()["err_msg"]


def test_at_capacity_refuses_the_handshake(serve: Callable[..., Stack]) -> None:
    stack = serve(max_streams=1)
    with stack.client.websocket_connect(LIVE, headers=TOKEN) as first:
        with pytest.raises(WebSocketDenialResponse) as denied, stack.client.websocket_connect(LIVE, headers=TOKEN):
            pass
        assert denied.value.status_code == 503 and denied.value.json()["err_code"] == "SERVICE_UNAVAILABLE"
        _, code, _ = close_stream(first)
    assert code == 1000
