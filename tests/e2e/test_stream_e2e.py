"""Through the real Serve proxy, real WebSockets, real tiny.en (docs/architecture.md §5)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.client import SttClient, SttClientError
from tests.wer import wer

pytestmark = pytest.mark.e2e

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def test_jfk_over_two_channels_partials_then_final(serve_url: str, shared_data: Path) -> None:
    client = SttClient(serve_url, api_key="key-a")
    seen: list[p.ServerMessage] = []
    async with client.stream() as s:
        sender = asyncio.create_task(s.send_file(shared_data / "clips" / "jfk.flac", realtime=True))
        async for msg in s:
            seen.append(msg)
            if sender.done() and s.state.name == "OPEN":
                await s.stop()
        await sender
    finals = [m for m in seen if isinstance(m, p.FinalResult)]
    partials = [m for m in seen if isinstance(m, p.PartialResult)]
    assert partials and finals
    for final in finals:  # an utterance's partials all come before its final
        own = [i for i, m in enumerate(seen) if isinstance(m, p.PartialResult) and m.utterance_id == final.utterance_id]
        assert not own or max(own) < seen.index(final)
    text = " ".join(f.data.text for f in finals)
    assert wer(JFK, text) <= 0.10, text
    assert [f.seq for f in finals] == list(range(1, len(finals) + 1))
    assert isinstance(seen[-1], p.SessionEnded)


async def test_control_and_audio_on_different_ingress_replicas(serve_url: str, shared_data: Path) -> None:
    headers = {"Authorization": "Bearer key-a"}
    async with websockets.connect(ws_url(serve_url, "/v1/stream/control"), additional_headers=headers) as control:
        control_replica = control.response.headers["x-stt-replica"]
        await control.send(json.dumps({"type": "start_stream"}))
        started = p.parse_server_message(await control.recv())
        assert isinstance(started, p.SessionStarted)
        audio_url = ws_url(serve_url, f"/v1/stream/audio?session_id={started.session_id}")
        audio = None
        for _ in range(30):  # the proxy spreads new connections over both replicas
            candidate = await websockets.connect(audio_url, additional_headers=headers)
            if candidate.response.headers["x-stt-replica"] != control_replica:
                audio = candidate
                break
            await candidate.close()
        assert audio is not None, "every audio socket landed on the control socket's replica"
        pcm = to_pcm16(load_audio(shared_data / "clips" / "sb_spk2_snt5.wav")) + bytes(16000)
        for i in range(0, len(pcm), 8000):
            await audio.send(pcm[i : i + 8000])
        # the sockets are on different replicas: stop names how much audio to wait for
        await control.send(json.dumps({"type": "stop_stream", "audio_bytes": len(pcm)}))
        finals = []
        async for raw in control:
            msg = p.parse_server_message(raw)
            if isinstance(msg, p.FinalResult):
                finals.append(msg.data.text)
        await audio.close()
    assert wer("jump the fence and hurry up the bank", " ".join(finals)) <= 0.2, finals


async def test_concurrent_sessions_never_mix(serve_url: str, shared_data: Path) -> None:
    clips = {
        "key-a": ("sb_spk1_snt1.wav", "the child almost hurt the small dog"),
        # not LDC93S1: base writes its "wash water" as one word, 3 of 11 words wrong
        "key-b": ("new-home-in-the-stars-16k.wav", "we must find a new home in the stars"),
    }

    async def run(key: str) -> tuple[str, list[p.FinalResult]]:
        client = SttClient(serve_url, api_key=key)
        async with client.stream() as s:
            await s.send_file(shared_data / "clips" / clips[key][0], realtime=False)
            await s.send_audio(bytes(16000))
            finals = await s.finish()
            return s.session_id, finals

    (sid_a, finals_a), (sid_b, finals_b) = await asyncio.gather(run("key-a"), run("key-b"))
    assert sid_a != sid_b
    assert all(f.session_id == sid_a for f in finals_a) and all(f.session_id == sid_b for f in finals_b)
    assert wer(clips["key-a"][1], " ".join(f.data.text for f in finals_a)) <= 0.2
    assert wer(clips["key-b"][1], " ".join(f.data.text for f in finals_b)) <= 0.2


@pytest.mark.parametrize(
    ("headers", "query", "close_code"),
    [
        ({}, "", 4401),
        ({"Authorization": "Bearer wrong-key"}, "", 4401),
        ({"Authorization": "Bearer key-a"}, "?client_id=client-b", 4403),
        ({}, "?token=not.a.jwt", 4401),
    ],
)
async def test_auth_failures_close_with_codes(
    serve_url: str, headers: dict[str, str], query: str, close_code: int
) -> None:
    async with websockets.connect(ws_url(serve_url, "/v1/stream/control" + query), additional_headers=headers) as ws:
        msg = p.parse_server_message(await ws.recv())
        assert isinstance(msg, p.Error) and msg.fatal
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == close_code


async def test_other_client_cannot_attach(serve_url: str) -> None:
    async with SttClient(serve_url, api_key="key-a").stream() as s:
        url = ws_url(serve_url, f"/v1/stream/audio?session_id={s.session_id}")
        async with websockets.connect(url, additional_headers={"Authorization": "Bearer key-b"}) as intruder:
            # answered as if the session did not exist: audio is not attached, a resume is not found
            await intruder.send(bytes(3200))
            msg = p.parse_server_message(await intruder.recv())
            assert isinstance(msg, p.Error) and msg.code == "audio_before_start" and not msg.fatal
            await intruder.send(json.dumps({"type": "start_stream", "last_seq": 0}))
            msg = p.parse_server_message(await intruder.recv())
            assert isinstance(msg, p.Error) and msg.code == "session_not_found" and msg.fatal
        await s.stop()


async def test_bad_input_gets_codes_and_keeps_finals(serve_url: str, shared_data: Path) -> None:
    headers = {"Authorization": "Bearer key-a"}
    async with websockets.connect(ws_url(serve_url, "/v1/stream/control"), additional_headers=headers) as control:
        await control.send("{not json")
        assert json.loads(await control.recv())["code"] == "invalid_message"
        await control.send(json.dumps({"type": "launch"}))
        assert json.loads(await control.recv())["code"] == "unknown_command"
        await control.send(b"\x00\x01")
        assert json.loads(await control.recv())["code"] == "wrong_frame_type"
        await control.send(json.dumps({"type": "start_stream", "options": {"audio": {"sample_rate": 4000}}}))
        assert json.loads(await control.recv())["code"] == "invalid_message"
        await control.send(json.dumps({"type": "start_stream"}))
        started = p.parse_server_message(await control.recv())
        assert isinstance(started, p.SessionStarted)
        url = ws_url(serve_url, f"/v1/stream/audio?session_id={started.session_id}")
        async with websockets.connect(url, additional_headers=headers) as audio:
            await audio.send(bytes(9000))
            await audio.send(b"\x00\x01\x02")
            await audio.send("text on the audio socket")
            pcm = to_pcm16(load_audio(shared_data / "clips" / "sb_spk2_snt2.wav")) + bytes(16000)
            for i in range(0, len(pcm), 8000):
                await audio.send(pcm[i : i + 8000])
            await control.send(json.dumps({"type": "stop_stream", "audio_bytes": 9000 + 3 + len(pcm)}))
            codes, finals = [], []
            async for raw in control:
                msg = p.parse_server_message(raw)
                if isinstance(msg, p.Error):
                    codes.append(msg.code)
                elif isinstance(msg, p.FinalResult):
                    finals.append(msg.data.text)
    assert codes == ["frame_too_large", "misaligned_audio", "wrong_frame_type"]
    assert wer("what joy there is in living", " ".join(finals)) <= 0.2


async def test_reconnect_resumes_with_missed_finals(serve_url: str, shared_data: Path) -> None:
    headers = {"Authorization": "Bearer key-a"}
    clips = [
        to_pcm16(load_audio(shared_data / "clips" / n)) + bytes(48000) for n in ("sb_spk1_snt3.wav", "sb_spk1_snt4.wav")
    ]
    control = await websockets.connect(ws_url(serve_url, "/v1/stream/control"), additional_headers=headers)
    await control.send(json.dumps({"type": "start_stream"}))
    started = p.parse_server_message(await control.recv())
    assert isinstance(started, p.SessionStarted)
    sid = started.session_id
    async with websockets.connect(
        ws_url(serve_url, f"/v1/stream/audio?session_id={sid}"), additional_headers=headers
    ) as audio:
        for i in range(0, len(clips[0]), 8000):
            await audio.send(clips[0][i : i + 8000])
        while not isinstance(msg := p.parse_server_message(await control.recv()), p.FinalResult):
            pass
        assert msg.seq == 1
        # the control socket dies without a close handshake, as in a network cut
        control.transport.abort()
        for i in range(0, len(clips[1]), 8000):
            await audio.send(clips[1][i : i + 8000])
        url = ws_url(serve_url, f"/v1/stream/control?session_id={sid}")
        async with websockets.connect(url, additional_headers=headers) as again:
            await again.send(json.dumps({"type": "start_stream", "last_seq": 1}))
            resumed = p.parse_server_message(await again.recv())
            assert isinstance(resumed, p.SessionStarted) and resumed.resumed and resumed.session_id == sid
            await again.send(json.dumps({"type": "stop_stream", "audio_bytes": sum(map(len, clips))}))
            finals = [
                m for raw in [r async for r in again] if isinstance(m := p.parse_server_message(raw), p.FinalResult)
            ]
    assert [f.seq for f in finals] == [2]
    assert wer("a thin stripe runs down the middle", finals[0].data.text) <= 0.3


async def test_token_endpoint_and_jwt_stream(serve_url: str, shared_data: Path) -> None:
    token, expires_in = await SttClient(serve_url, api_key="key-a").mint_token(ttl_s=60)
    assert 0 < expires_in <= 60
    finals = await SttClient(serve_url, token=token).transcribe_file(
        shared_data / "clips" / "sb_spk2_snt4.wav", realtime=False
    )
    assert wer("mend the coat before you go out", " ".join(f.data.text for f in finals)) <= 0.2
    with pytest.raises(SttClientError):
        await SttClient(serve_url, token=token).mint_token()
