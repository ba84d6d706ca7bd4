"""OpenAI's audio API over the real app (TestClient), real VAD and clips, a scripted model: every
response format, the streamed response, translations, and errors in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config import StoreSettings
from tests.compat_audio import joined, wav_bytes
from tests.integration.conftest import Stack

pytestmark = pytest.mark.timeout(60)

BEARER = {"Authorization": "Bearer key-a"}
URL = "/v1/audio/transcriptions"


@pytest.fixture
def audio(shared_data: Path) -> bytes:
    return wav_bytes(joined(shared_data / "clips", ["sb_spk1_snt1.wav", "LDC93S1.wav"]))


def post(stack: Stack, audio: bytes, url: str = URL, **fields: str | list[str]) -> object:
    data = {"model": "whisper-1", **fields}
    return stack.client.post(url, data=data, files={"file": ("a.wav", audio, "audio/wav")}, headers=BEARER)


def test_json_text_srt_vtt(stack: Stack, audio: bytes) -> None:
    body = post(stack, audio).json()  # type: ignore[attr-defined]
    assert body["text"].startswith("Alpha") and body["usage"] == {"type": "duration", "seconds": 9}
    text = post(stack, audio, response_format="text")
    assert text.text == body["text"] + "\n"  # type: ignore[attr-defined]
    srt = post(stack, audio, response_format="srt").text  # type: ignore[attr-defined]
    assert srt.startswith("1\n00:00:00,") and "\n\n2\n" in srt
    vtt = post(stack, audio, response_format="vtt")
    assert vtt.text.startswith("WEBVTT") and vtt.headers["content-type"].startswith("text/vtt")  # type: ignore[attr-defined]


def test_verbose_json_words_and_segments(stack: Stack, audio: bytes) -> None:
    body = post(stack, audio, response_format="verbose_json", **{"timestamp_granularities[]": ["word"]}).json()  # type: ignore[attr-defined]
    assert (
        body["task"] == "transcribe"
        and body["language"] == "english"
        and body["duration"] == pytest.approx(8.3, abs=0.1)
    )
    assert "segments" not in body and body["words"][0]["word"] == "alpha"
    body = post(stack, audio, response_format="verbose_json").json()  # type: ignore[attr-defined]
    assert "words" not in body and len(body["segments"]) == 2
    segment = body["segments"][0]
    assert {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob"} <= set(segment)
    assert segment["start"] < segment["end"] <= body["segments"][1]["start"]


def test_stream_deltas_then_done(stack: Stack, audio: bytes) -> None:
    response = post(stack, audio, stream="true")
    assert response.headers["content-type"].startswith("text/event-stream")  # type: ignore[attr-defined]
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]  # type: ignore[attr-defined]
    assert [e["type"] for e in events] == ["transcript.text.delta", "transcript.text.delta", "transcript.text.done"]
    assert "".join(e["delta"] for e in events[:2]) == events[-1]["text"]


def test_translations_and_storage(serve: Callable[..., Stack], tmp_path: Path, audio: bytes) -> None:
    stack = serve(store=StoreSettings(data_dir=str(tmp_path)))
    response = post(stack, audio, url="/v1/audio/translations", response_format="verbose_json")
    body = response.json()  # type: ignore[attr-defined]
    assert body["task"] == "translate" and body["text"]
    sid = response.headers["x-request-id"]  # type: ignore[attr-defined]
    stored = stack.client.get(f"/v1/sessions/{sid}", headers=BEARER).json()
    assert stored["status"] == "ended" and stored["finals"] == 2


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"response_format": "xml"}, 400, "response_format"),
        ({"response_format": "srt", "stream": "true"}, 400, "stream"),
        ({"temperature": "7"}, 400, "temperature"),
        ({"timestamp_granularities[]": "char"}, 400, "timestamp_granularities"),
        ({"language": "x y"}, 400, None),
    ],
)
def test_bad_parameters(stack: Stack, audio: bytes, fields: dict[str, str], status: int, param: str | None) -> None:
    response = post(stack, audio, **fields)
    assert response.status_code == status  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["type"] == "invalid_request_error" and error["param"] == param and len(error["message"]) < 300


def test_auth_file_and_size_errors(serve: Callable[..., Stack], audio: bytes) -> None:
    stack = serve()
    no_key = stack.client.post(URL, data={"model": "whisper-1"}, files={"file": ("a.wav", audio)})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
    missing = stack.client.post(URL, data={"model": "whisper-1"}, headers=BEARER)
    assert missing.status_code == 400
    garbage = post(stack, b"definitely not an audio file" * 20)
    assert garbage.status_code == 400 and garbage.json()["error"]["param"] == "file"  # type: ignore[attr-defined]
    stack.settings.prerecorded.max_upload_bytes = 10_000
    big = post(stack, audio)
    assert big.status_code == 413 and big.json()["error"]["code"] == "file_too_large"  # type: ignore[attr-defined]
    stack.settings.prerecorded.max_upload_bytes = 10_000_000
    stack.settings.prerecorded.max_duration_s = 3.0
    long = post(stack, audio)
    assert long.status_code == 400 and "longer than" in long.json()["error"]["message"]  # type: ignore[attr-defined]
