"""The hostile-input run's defects that only the real Ray stack shows: Ray's Counter refusing an
increment of 0, and a session host killed mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from ray import serve

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.client import ResumePolicy, SttClient, SttClientError, SttStream
from tests.encoding import FORMATS, encode

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": "Bearer key-a"}


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def _messages_until_closed(ws: websockets.ClientConnection) -> list[p.ServerMessage]:
    out = []
    async for raw in ws:
        out.append(p.parse_server_message(raw))
    return out


async def test_frames_that_decode_to_nothing_do_not_fail_the_metrics(serve_url: str, shared_data: Path) -> None:
    """An empty frame and mp3 in 100-byte pieces (most decode to no samples) through Ray's metrics."""
    mono = load_audio(shared_data / "clips" / "sb_spk2_snt5.wav")
    padded = np.concatenate([np.zeros(8000, np.float32), mono, np.zeros(24000, np.float32)])
    mp3 = encode(np.stack([padded, padded]), 16000, FORMATS["mp3"])
    async with websockets.connect(ws_url(serve_url, "/v1/stream/audio"), additional_headers=HEADERS) as ws:
        await ws.send(json.dumps({"type": "start_stream", "options": {"audio": {"encoding": "mp3"}}}))
        assert isinstance(p.parse_server_message(await ws.recv()), p.SessionStarted)
        await ws.send(b"")
        for i in range(0, len(mp3), 100):
            await ws.send(mp3[i : i + 100])
        await ws.send(json.dumps({"type": "stop_stream"}))
        messages = await _messages_until_closed(ws)
        close = ws.close_code
    errors = [m for m in messages if isinstance(m, p.Error)]
    assert errors == [] and close == 1000
    finals = [m for m in messages if isinstance(m, p.FinalResult)]
    assert len(finals) == 1 and "fence" in finals[0].data.text.lower()


async def _host_pids() -> list[int]:
    """Every session host's process: the pool's replica (host 0) and the actors it owns."""
    pool = serve.get_deployment_handle("SessionHostPool", app_name="stt")
    others = await pool.get_hosts.remote()
    return [
        int(await pool.pid.remote()),
        *[int(pid) for pid in await asyncio.gather(*(h.pid.remote() for h in others))],
    ]


async def _wait_healthy(url: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url + "/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)
    raise AssertionError("the app did not become healthy again")


async def _reconnect(stream: SttStream, timeout_s: float = 30.0) -> p.SessionStarted:
    """Resume by hand, retrying while the close is not a 4xxx (1012, as the README asks): an ingress
    replica may still know the dead hosts (it fetches the new ones when a call meets a dead one), so
    either socket may be closed with 1012 once more."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await stream.reconnect()
        except SttClientError as exc:
            if exc.fatal or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def test_a_killed_session_host_interrupts_the_stream_and_it_resumes(serve_url: str, shared_data: Path) -> None:
    clip = to_pcm16(load_audio(shared_data / "clips" / "sb_spk1_snt1.wav"))
    gap = bytes(32000)  # 1 s
    # by hand (the client would otherwise resume by itself: tests/e2e/test_z_faults_e2e.py)
    client = SttClient(serve_url, api_key="key-a", resume=ResumePolicy(enabled=False))
    async with client.stream() as s:
        await s.send_pcm(clip + gap, realtime=False)
        first = None
        async for msg in s:
            if isinstance(msg, p.FinalResult):
                first = msg
                break
        assert first is not None and first.seq == 1
        before = await _host_pids()
        for pid in before:  # as a crash would: no flush, nothing recorded
            os.kill(pid, signal.SIGKILL)
        # the client hears of it (no hang): its control socket closes with 1012, not a 4xxx
        with pytest.raises(SttClientError) as info:
            async with asyncio.timeout(30):
                async for _ in s:
                    pass
        assert info.value.code == "session_interrupted" and info.value.close_code == 1012
        assert not info.value.fatal
        await _wait_healthy(serve_url)
        assert set(await _host_pids()).isdisjoint(before)  # Serve and Ray restarted the hosts
        started = await _reconnect(s)
        assert started.resumed and started.session_id == first.session_id
        await s.send_pcm(to_pcm16(load_audio(shared_data / "clips" / "sb_spk2_snt2.wav")) + gap, realtime=False)
        finals = await s.finish()
    assert [f.seq for f in finals] == [1, 2]
    assert "joy" in finals[1].data.text.lower()
