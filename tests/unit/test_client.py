"""The client library against a small fake server that speaks the wire protocol (no Ray, no model)."""

from __future__ import annotations

import asyncio
import socket
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app import protocol as p
from app.client import ResumePolicy, StreamState, SttClient, SttClientError, SttStream
from app.client.inbox import Inbox
from app.options import SessionOptions
from tests.fakes.server import NOW, FakeServer, running

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with running() as fake:
        yield fake


SPAN = p.AudioSpan(start=0.0, end=0.1, duration=0.1)


def client_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("stt-client-")]


async def read_finals(stream: SttStream, n: int) -> list[p.ServerMessage]:
    got: list[p.ServerMessage] = []
    async for msg in stream:
        got.append(msg)
        if sum(isinstance(m, p.FinalResult) for m in got) >= n:
            break
    return got


async def test_happy_path(server: FakeServer) -> None:
    client = SttClient(server.base_url, api_key="k", client_id="alice")
    async with client.stream({"language": "en"}) as stream:
        assert stream.state.value == "open"  # (not `is`: mypy would keep the narrowed type)
        await stream.send_audio(b"\x01\x00" * 10_000)  # 20,000 bytes: three frames
        got = await read_finals(stream, 3)
        await stream.stop()
        got += [msg async for msg in stream]
        assert stream.state.value == "ended"
        assert [msg async for msg in stream] == []  # iteration stays finished
    assert [m.type for m in got] == [
        "session_started",
        *["partial_result", "final_result"] * 3,
        "session_ended",
    ]
    assert isinstance(got[0], p.SessionStarted)
    assert got[0].session_id == stream.session_id
    assert [len(f) for f in server.frames] == [8192, 8192, 3616]
    assert [f.seq for f in stream.finals] == [1, 2, 3]
    assert stream.last_seq == 3
    control, audio = server.sockets
    assert control.path == "/v1/stream/control"
    assert control.params == {"client_id": "alice"}
    assert audio.path == "/v1/stream/audio"
    assert audio.params == {"client_id": "alice", "session_id": stream.session_id}
    assert [c.type for c in server.commands] == ["start_stream", "stop_stream"]
    assert stream.state is StreamState.CLOSED
    assert client_tasks() == []


async def test_commands_and_requested_session_id(server: FakeServer) -> None:
    client = SttClient(server.base_url, api_key="k")
    async with client.stream(SessionOptions(language="de"), session_id="my-session") as stream:
        assert stream.session_id == "my-session"
        assert stream.started.options.language == "de"
        await stream.finalize()
        await stream.pause()
        await stream.resume()
        await stream.configure({"features": {"interim_results": False}})
        await stream.keep_alive()
        finals = await stream.finish()
        assert finals == []
        with pytest.raises(SttClientError) as err:
            await stream.send_audio(b"\0\0")
        assert err.value.code == "invalid_state"
    assert [c.type for c in server.commands] == [
        "start_stream",
        "finalize",
        "pause_stream",
        "resume_stream",
        "configure",
        "keep_alive",
        "stop_stream",
    ]
    assert server.sockets[0].params == {"session_id": "my-session"}


async def test_standalone_uses_only_the_audio_socket(server: FakeServer) -> None:
    client = SttClient(server.base_url, api_key="k")
    async with client.stream(standalone=True) as stream:
        await stream.send_audio(b"\0\0" * 1600)
        await stream.finalize()
        got = await read_finals(stream, 1)
        finals = await stream.finish()
    assert [s.path for s in server.sockets] == ["/v1/stream/audio"]
    assert server.sockets[0].params == {}
    assert [m.type for m in got] == ["session_started", "partial_result", "final_result"]
    assert [f.data.text for f in finals] == ["3200 bytes"]
    assert [c.type for c in server.commands] == ["start_stream", "finalize", "stop_stream"]
    assert client_tasks() == []


async def test_token_wins_over_api_key_on_both_sockets(server: FakeServer) -> None:
    client = SttClient(server.base_url, api_key="key", token="jwt")
    async with client.stream():
        pass
    assert [s.authorization for s in server.sockets] == ["Bearer jwt", "Bearer jwt"]


async def test_path_prefix(server: FakeServer) -> None:
    client = SttClient(server.base_url + "/stt/", api_key="k")
    async with client.stream() as stream:
        await stream.finish()
    assert [s.path for s in server.sockets] == ["/stt/v1/stream/control", "/stt/v1/stream/audio"]


async def test_missing_credentials_close_4401(server: FakeServer) -> None:
    with pytest.raises(SttClientError) as err:
        async with SttClient(server.base_url).stream():
            pass
    assert (err.value.code, err.value.close_code, err.value.fatal) == ("unauthenticated", 4401, True)
    assert client_tasks() == []


async def test_refused_start_raises_the_servers_code(server: FakeServer) -> None:
    with pytest.raises(SttClientError) as err:
        async with SttClient(server.base_url, api_key="k", client_id="greedy").stream():
            pass
    assert (err.value.code, err.value.close_code) == ("too_many_sessions", 4429)
    assert err.value.message == "10 sessions already"


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SttClientError) as err:
        async with SttClient(f"http://127.0.0.1:{port}", api_key="k").stream():
            pass
    assert err.value.code == "connection_failed"
    assert "connection refused" in err.value.message
    assert client_tasks() == []


async def test_fatal_error_is_yielded_then_raised(server: FakeServer) -> None:
    async with SttClient(server.base_url, api_key="k").stream() as stream:
        await server.fail(stream.session_id)
        got: list[p.ServerMessage] = []
        with pytest.raises(SttClientError) as err:
            async for msg in stream:
                got.append(msg)
        assert [m.type for m in got] == ["session_started", "error"]
        assert (err.value.code, err.value.close_code, err.value.message) == (
            "internal_error",
            4500,
            "the model crashed",
        )
        assert stream.state is StreamState.FAILED
        with pytest.raises(SttClientError) as again:
            await stream.send_audio(b"\0\0")
        assert again.value is err.value


async def test_reconnect_resumes_after_last_seq(server: FakeServer) -> None:
    server.replay_all = True  # the client must drop the finals it already has
    manual = ResumePolicy(enabled=False)
    async with SttClient(server.base_url, api_key="k", resume=manual).stream() as stream:
        await stream.send_audio(b"\0\0" * 100)
        await stream.send_audio(b"\0\0" * 200)
        await read_finals(stream, 2)
        await server.drop(stream.session_id)
        with pytest.raises(SttClientError) as err:
            async for _ in stream:
                pass
        assert (err.value.code, err.value.close_code, err.value.fatal) == ("connection_lost", 1012, False)
        assert stream.state.value == "disconnected"
        await stream.send_audio(b"\0\0" * 300)  # the audio socket outlives the control socket
        started = await stream.reconnect()
        assert started.resumed
        assert stream.state is StreamState.OPEN
        got = await read_finals(stream, 1)
        finals = await stream.finish()
    resume = server.commands[1]
    assert isinstance(resume, p.StartStream)
    assert resume.last_seq == 2
    control = [sock for sock in server.sockets if sock.path == "/v1/stream/control"]
    assert control[-1].params == {"session_id": stream.session_id} and len(control) == 2
    # a fresh audio socket too: the old one may be attached to a host that went away
    assert server.sockets[-1].path == "/v1/stream/audio"
    assert got[0].type == "session_started"
    assert [(f.seq, f.data.text) for f in finals] == [(1, "200 bytes"), (2, "400 bytes"), (3, "600 bytes")]


def write_wav(path: Path, seconds: float, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x10\x00" * int(seconds * rate))


async def test_send_file_is_paced_in_chunks(server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "half.wav"
    write_wav(path, 0.5)
    async with SttClient(server.base_url, api_key="k").stream() as stream:
        began = time.monotonic()
        seconds = await stream.send_file(path, realtime=True, speed=5.0)  # a chunk each 20 ms
        elapsed = time.monotonic() - began
        await stream.finish()
    assert seconds == pytest.approx(0.5)
    assert elapsed >= 0.09
    assert [len(f) for f in server.frames] == [3200] * 5


async def test_transcribe_file(server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    write_wav(path, 0.3, rate=8000)  # resampled to the session's 16 kHz
    finals = await SttClient(server.base_url, api_key="k").transcribe_file(path, realtime=False)
    assert [f.data.text for f in finals] == ["3200 bytes"] * 3
    assert client_tasks() == []


async def test_invalid_options_fail_before_connecting() -> None:
    with pytest.raises(SttClientError) as err:
        SttClient("http://127.0.0.1:9", api_key="k").stream({"audio": {"sample_rate": 1}})
    assert err.value.code == "invalid_options"
    assert "sample_rate" in err.value.message


async def test_full_inbox_drops_partials_and_holds_the_rest() -> None:
    inbox = Inbox(size=2)
    partial = p.PartialResult(
        session_id="s",
        utterance_id=1,
        data=p.PartialData(text="a", confidence=0.5, timestamp=NOW, audio_start=0.0, audio_current=0.1),
    )
    final = p.FinalResult(
        session_id="s", utterance_id=1, seq=1, data=p.FinalData(text="A.", confidence=0.9, timestamp=NOW, audio=SPAN)
    )
    assert await inbox.put(partial)
    assert await inbox.put(partial)
    assert not await inbox.put(partial)  # full: a partial is dropped
    assert inbox.dropped_partials == 1
    held = asyncio.create_task(inbox.put(final))  # full: a final waits for room
    await asyncio.sleep(0)
    assert not held.done()
    assert await inbox.get() == partial
    assert await held
    assert [await inbox.get(), await inbox.get()] == [partial, final]
    assert not await inbox.put(final)  # a replayed final is skipped
    assert inbox.finals == [final]


async def test_close_wakes_a_consumer_in_another_task(server: FakeServer) -> None:
    stream = SttClient(server.base_url, api_key="k").stream()
    await stream.open()
    consumer = asyncio.create_task(read_finals(stream, 1))
    await asyncio.sleep(0)  # the consumer takes session_started and waits for more
    await stream.close()
    assert [m.type for m in await consumer] == ["session_started"]
    assert client_tasks() == []
