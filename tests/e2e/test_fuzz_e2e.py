"""Garbage through the real Ray stack once (the fuzzing itself runs in tests/fuzz on the Starlette app):
a burst of bad frames on a live session after its first final. The final stays delivered and stored,
every bad frame is answered with its own code (never internal_error), and the app stays healthy."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from tests.fuzz.seeds import SEED_CLIP

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": "Bearer key-a"}
CHUNK = 3200  # 100 ms of 16 kHz PCM16


def _burst(rng: np.random.Generator) -> list[bytes | str]:
    """Misaligned, oversized, empty and noise frames, a wav header, and text on the audio socket."""
    frames: list[bytes | str] = []
    for i in range(40):
        kind = i % 5
        if kind == 0:
            frames.append(rng.bytes(int(rng.integers(1, 4000)) | 1))  # an odd byte count
        elif kind == 1:
            frames.append(rng.bytes(9000))  # over limits.max_frame_bytes
        elif kind == 2:
            frames.append(b"")
        elif kind == 3:
            frames.append(b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x03\x00\x02\x00")  # 22 bytes: even, noise
        else:
            frames.append(json.dumps({"type": "configure", "options": {"vad": {"post_speech_silence": "NaN"}}}))
    return frames


async def _until_closed(ws: websockets.ClientConnection) -> list[p.ServerMessage]:
    return [p.parse_server_message(raw) async for raw in ws]


async def test_garbage_burst_keeps_earlier_finals_and_the_app_healthy(serve_url: str, shared_data: Path) -> None:
    speech = to_pcm16(load_audio(shared_data / "clips" / SEED_CLIP))
    pcm = bytes(8000) + speech + bytes(48000)  # 0.25 s, the clip, 1.5 s of silence: one final
    burst = _burst(np.random.default_rng(13))
    ws_base = serve_url.replace("http://", "ws://")
    async with websockets.connect(ws_base + "/v1/stream/control", additional_headers=HEADERS) as control:
        await control.send(json.dumps({"type": "start_stream"}))
        started = p.parse_server_message(await control.recv())
        assert isinstance(started, p.SessionStarted)
        sid = started.session_id
        audio_url = f"{ws_base}/v1/stream/audio?session_id={sid}"
        async with websockets.connect(audio_url, additional_headers=HEADERS) as audio:
            for i in range(0, len(pcm), CHUNK):
                await audio.send(pcm[i : i + CHUNK])
            before: list[p.ServerMessage] = []
            while not isinstance(before[-1:] and before[-1], p.FinalResult):
                before.append(p.parse_server_message(await control.recv()))
            for frame in burst:
                await audio.send(frame)
            async with httpx.AsyncClient(base_url=serve_url, headers=HEADERS, timeout=30) as http:
                health = await http.get("/healthz")
                assert health.status_code == 200 and health.json()["status"] == "ok"
            sent = len(pcm) + sum(len(f) for f in burst if isinstance(f, bytes))
            await control.send(json.dumps({"type": "stop_stream", "audio_bytes": sent}))
            after = await _until_closed(control)
        close = control.close_code
    messages = before + after
    errors = [m for m in messages if isinstance(m, p.Error)]
    assert {e.code for e in errors} == {"misaligned_audio", "frame_too_large", "wrong_frame_type"}
    assert all(not e.fatal and len(e.message) < 300 for e in errors)
    finals = [m for m in messages if isinstance(m, p.FinalResult)]
    assert finals[0] == before[-1] and "air" in finals[0].data.text.lower()
    assert [f.seq for f in finals] == list(range(1, len(finals) + 1))
    ended = messages[-1]
    assert isinstance(ended, p.SessionEnded) and ended.finals == len(finals) and close == 1000

    async with httpx.AsyncClient(base_url=serve_url, headers=HEADERS, timeout=30) as http:
        stored = await http.get(f"/v1/sessions/{sid}/transcript", params={"format": "json"})
        health = await http.get("/healthz")
    assert [f["text"] for f in stored.json()["finals"]] == [f.data.text for f in finals]
    assert health.status_code == 200 and health.json()["status"] == "ok"
