"""Client pieces without a socket server: URLs, framing and pacing, error mapping, token minting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from app import protocol as p
from app.client import SttClient, SttClientError
from app.client.audio import chunk_bytes, paced, split_frames
from app.client.errors import from_close
from app.client.urls import AUDIO_PATH, CONTROL_PATH, TOKEN_PATH, http_url, ws_url

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize(
    ("base", "path", "params", "expected"),
    [
        ("http://h:8000", CONTROL_PATH, {"client_id": "a"}, "ws://h:8000/v1/stream/control?client_id=a"),
        ("https://h/stt/", AUDIO_PATH, {"session_id": "s 1"}, "wss://h/stt/v1/stream/audio?session_id=s+1"),
        ("ws://h", CONTROL_PATH, {"client_id": None}, "ws://h/v1/stream/control"),
        ("wss://h/a/b", AUDIO_PATH, {}, "wss://h/a/b/v1/stream/audio"),
        ("http://h/x?region=eu", AUDIO_PATH, {"session_id": "s"}, "ws://h/x/v1/stream/audio?region=eu&session_id=s"),
    ],
)
def test_ws_url(base: str, path: str, params: dict[str, str | None], expected: str) -> None:
    assert ws_url(base, path, **params) == expected


def test_http_url() -> None:
    assert http_url("wss://h/stt/", TOKEN_PATH) == "https://h/stt/v1/auth/token"
    assert http_url("http://127.0.0.1:8000", TOKEN_PATH) == "http://127.0.0.1:8000/v1/auth/token"


@pytest.mark.parametrize("base", ["ftp://h", "h:8000", "http://"])
def test_bad_base_url(base: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        SttClient(base)


@pytest.mark.parametrize(("max_frame_bytes", "queue_size"), [(8191, 10), (0, 10), (8192, 0)])
def test_bad_settings(max_frame_bytes: int, queue_size: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        SttClient("http://h", max_frame_bytes=max_frame_bytes, queue_size=queue_size)


def test_split_frames_and_chunks() -> None:
    assert [len(f) for f in split_frames(bytes(20_000), 8192)] == [8192, 8192, 3616]
    assert list(split_frames(b"", 8192)) == []
    assert chunk_bytes(p.AudioFormat(sample_rate=16000, encoding="pcm_s16le", channels=1), 100) == 3200
    assert chunk_bytes(p.AudioFormat(sample_rate=8000, encoding="pcm_s16le", channels=2), 20) == 640


async def test_pacing_does_not_drift() -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    times = [loop.time() - began async for _ in paced([b"a"] * 5, 0.02)]
    # chunk i goes at (i + 1) * interval after the start, however long each send took
    for i, t in enumerate(times):
        assert t >= (i + 1) * 0.02 - 0.002
    assert times[-1] < 0.1 + 0.05


@pytest.mark.parametrize(
    ("close_code", "reason", "code", "fatal"),
    [
        (4401, "", "unauthenticated", True),
        (4401, "unauthenticated", "unauthenticated", True),
        (4400, "frame_too_large", "frame_too_large", True),
        (4400, "", "invalid_message", True),
        (4403, "not yours", "forbidden", True),
        (4404, "", "session_not_found", True),
        (4408, "", "idle_timeout", True),
        (4409, "", "max_duration", True),
        (4429, "", "too_many_sessions", True),
        (4500, "", "internal_error", True),
        (4999, "", "error", True),
        (1006, "", "connection_lost", False),
        (None, "", "connection_lost", False),
        (1000, "", "connection_lost", False),
    ],
)
def test_close_codes(close_code: int | None, reason: str, code: str, fatal: bool) -> None:
    error = from_close(close_code, reason)
    assert (error.code, error.fatal) == (code, fatal)
    assert error.close_code == (close_code or 1006)
    if reason:
        assert reason in error.message


def test_fatal_error_message_names_the_close() -> None:
    msg = p.Error(session_id="s", code="buffer_overflow", message="too far behind", fatal=True)
    error = from_close(4400, "bad request", msg)
    assert (error.code, error.close_code, error.message) == ("buffer_overflow", 4400, "too far behind")


# --------------------------------------------------------------------------- POST /v1/auth/token


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHttp:
    """A one-route HTTP server: records each request and answers with ``reply``."""

    reply: Callable[[Request], tuple[int, dict[str, object]]]
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, _ = head[0].split(" ", 2)
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = Request(method, path, headers, body)
        self.requests.append(request)
        status, payload = self.reply(request)
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()


@pytest.fixture
def http_reply() -> dict[str, tuple[int, dict[str, object]]]:
    return {"reply": (200, {"token": "jwt", "expires_in": 60, "token_type": "Bearer"})}


@pytest.fixture
async def http(http_reply: dict[str, tuple[int, dict[str, object]]]) -> AsyncIterator[FakeHttp]:
    fake = FakeHttp(reply=lambda _: http_reply["reply"])
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}/stt"
    async with server:
        yield fake


async def test_mint_token(http: FakeHttp) -> None:
    client = SttClient(http.base_url, api_key="key", token="old", client_id="alice")
    token, expires_in = await client.mint_token(ttl_s=60)
    assert (token, expires_in) == ("jwt", 60)
    (request,) = http.requests
    assert (request.method, request.path) == ("POST", "/stt/v1/auth/token?client_id=alice")
    assert request.headers["authorization"] == "Bearer key"  # the API key, not the token
    assert json.loads(request.body) == {"ttl_s": 60}


async def test_mint_token_refused(http: FakeHttp, http_reply: dict[str, tuple[int, dict[str, object]]]) -> None:
    http_reply["reply"] = (401, {"error": {"code": "unauthenticated", "message": "unknown API key"}})
    with pytest.raises(SttClientError) as err:
        await SttClient(http.base_url, api_key="nope").mint_token(session_id="s1")
    assert (err.value.code, err.value.http_status, err.value.message) == ("unauthenticated", 401, "unknown API key")
    assert json.loads(http.requests[0].body) == {"session_id": "s1"}


async def test_mint_token_connection_refused() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(SttClientError) as err:
        await SttClient(f"http://127.0.0.1:{port}", api_key="k").mint_token()
    assert err.value.code == "connection_failed"
