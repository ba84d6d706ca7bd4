"""Opening one WebSocket to the service, with every failure turned into :class:`SttClientError`."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from app import protocol as p
from app.client.errors import SttClientError, from_close, from_http, from_message
from app.client.inbox import parse


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What every socket of one :class:`~app.client.SttClient` shares."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    client_id: str | None = None
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    #: largest binary frame sent; the server refuses raw PCM frames over 8192 bytes
    max_frame_bytes: int = 8192
    #: server messages buffered for the consumer; when full, new partials are dropped and the rest wait
    queue_size: int = 1000

    def __post_init__(self) -> None:
        if self.max_frame_bytes < 4 or self.max_frame_bytes % 4:
            raise ValueError(f"max_frame_bytes {self.max_frame_bytes} must be a positive multiple of 4 (whole samples)")
        if self.queue_size < 1:
            raise ValueError(f"queue_size {self.queue_size} must be at least 1")


async def open_socket(url: str, settings: ConnectionSettings) -> ClientConnection:
    """Connect, or raise ``SttClientError`` (``connection_failed`` or the server's refusal)."""
    try:
        return await connect(
            url,
            additional_headers=settings.headers,
            open_timeout=settings.open_timeout_s,
            close_timeout=settings.close_timeout_s,
            # audio does not compress and results are small: deflate would only cost latency
            compression=None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        fallback = f"{url}: the server refused the connection (HTTP {status})"
        raise from_http(status, bytes(exc.response.body or b""), fallback) from exc
    except InvalidURI as exc:
        raise SttClientError(f"{url}: not a valid WebSocket URL", code="connection_failed") from exc
    except ConnectionRefusedError as exc:
        raise SttClientError(
            f"cannot connect to {url}: connection refused (is the server running?)", code="connection_failed"
        ) from exc
    except TimeoutError as exc:
        raise SttClientError(
            f"cannot connect to {url}: no answer within {settings.open_timeout_s} s", code="connection_failed"
        ) from exc
    except (OSError, InvalidHandshake) as exc:
        raise SttClientError(f"cannot connect to {url}: {exc}", code="connection_failed") from exc


async def start_session(ws: ClientConnection, start: p.StartStream, timeout_s: float) -> list[p.ServerMessage]:
    """Send ``start_stream`` and read up to ``session_started``; returns what came, in order.

    An ``error`` before ``session_started`` means the start was refused: it is raised (a fatal one
    once the server has closed the socket, so that the error carries the close code).
    """
    received: list[p.ServerMessage] = []
    refusal: p.Error | None = None
    try:
        with contextlib.suppress(ConnectionClosed):  # a refusal may already be waiting: read it below
            await ws.send(start.model_dump_json())
        async with asyncio.timeout(timeout_s):
            while not received or not isinstance(received[-1], p.SessionStarted):
                msg = parse(await ws.recv())
                if isinstance(msg, p.Error) and msg.fatal:
                    refusal = msg  # the close follows; read on to learn its code
                elif isinstance(msg, p.Error):
                    raise from_message(msg)
                elif msg is not None:
                    received.append(msg)
    except ConnectionClosed as exc:
        raise from_close(ws.close_code, ws.close_reason or "", refusal) from exc
    except TimeoutError as exc:
        if refusal is not None:
            raise from_message(refusal) from exc
        raise SttClientError(f"no session_started within {timeout_s} s of start_stream", code="timeout") from exc
    return received
