"""The entry point: :class:`SttClient` holds the base URL and credentials and opens streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from app import protocol as p
from app.client.connection import ConnectionSettings
from app.client.errors import SttClientError, from_http
from app.client.resume import ResumeEvent, ResumePolicy
from app.client.stream import SttStream
from app.client.urls import SESSIONS_PATH, TOKEN_PATH, http_url, ws_url
from app.errors import ConfigError
from app.options import SessionOptions, parse_session_options


class Token(NamedTuple):
    """A short-lived JWT from ``POST /v1/auth/token``; unpacks as ``token, expires_in``."""

    token: str
    expires_in: int


class _TokenReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: str
    expires_in: int


class SttClient:
    """A client of one service.

    ``api_key`` or ``token`` (a JWT; it wins on sockets when both are given) goes in
    ``Authorization: Bearer …``; ``client_id`` names the caller (a JWT's subject must equal it).
    ``resume``: how its streams outlive a dropped connection (by default they reconnect and resume by
    themselves, keeping 30 s of audio to send again; ``ResumePolicy(enabled=False)``: they raise the drop).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        client_id: str | None = None,
        open_timeout_s: float = 10.0,
        max_frame_bytes: int = 8192,
        queue_size: int = 1000,
        resume: ResumePolicy | None = None,
    ) -> None:
        ws_url(base_url, "")  # fail now on a bad base URL, not at the first connection
        credential = token or api_key
        self.settings = ConnectionSettings(
            base_url=base_url,
            headers={"Authorization": f"Bearer {credential}"} if credential else {},
            client_id=client_id,
            open_timeout_s=open_timeout_s,
            max_frame_bytes=max_frame_bytes,
            queue_size=queue_size,
        )
        self._api_key = api_key
        self.resume = resume or ResumePolicy()

    def __repr__(self) -> str:
        return f"SttClient({self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    def stream(
        self,
        options: SessionOptions | dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        audio_start: datetime | None = None,
        standalone: bool = False,
        resume: ResumePolicy | None = None,
        on_resume: Callable[[ResumeEvent], None] | None = None,
    ) -> SttStream:
        """A stream to open with ``async with``; ``standalone`` sends everything over the audio socket;
        ``resume`` overrides the client's policy; ``on_resume`` hears each drop and resume."""
        start = p.StartStream(options=_options(options), audio_start=audio_start)
        return SttStream(
            self.settings,
            start,
            session_id=session_id,
            standalone=standalone,
            resume=resume or self.resume,
            on_resume=on_resume,
        )

    async def mint_token(self, *, session_id: str | None = None, ttl_s: int | None = None) -> Token:
        """Exchange the API key for a short-lived JWT (``POST /v1/auth/token``) whose subject is
        ``client_id``; ``session_id`` limits it to one session, ``ttl_s`` shortens its life."""
        body: dict[str, Any] = {}
        if session_id is not None:
            body["session_id"] = session_id
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else self.settings.headers
        response = await self._request("POST", TOKEN_PATH, json=body, headers=headers)
        try:
            reply = _TokenReply.model_validate_json(response.content)
        except ValidationError as exc:
            raise SttClientError(f"{response.url}: the answer has no token", code="invalid_response") from exc
        return Token(reply.token, reply.expires_in)

    async def sessions(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Any:
        """One page of this client's stored sessions, newest first (``GET /v1/sessions``), as the server's
        JSON: ``{"sessions": [...], "next_cursor": ...}``; pass ``next_cursor`` back as ``cursor`` for the
        next page. ``since``/``until`` are ISO 8601 times."""
        query = {"limit": str(limit) if limit is not None else None, "cursor": cursor, "since": since, "until": until}
        response = await self._request("GET", SESSIONS_PATH, params={k: v for k, v in query.items() if v is not None})
        try:
            return response.json()
        except ValueError as exc:
            raise SttClientError(f"{response.url}: the answer is not JSON", code="invalid_response") from exc

    async def transcript(self, session_id: str, fmt: str = "json") -> str:
        """A stored session's transcript (``GET /v1/sessions/{id}/transcript?format=``): json, txt, srt or vtt."""
        path = f"{SESSIONS_PATH}/{quote(session_id, safe='')}/transcript"
        response = await self._request("GET", path, params={"format": fmt})
        return response.text

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP call; failures (no connection, HTTP ≥ 400) become :class:`SttClientError`."""
        url = http_url(self.settings.base_url, path, client_id=self.settings.client_id, **(params or {}))
        try:
            async with httpx.AsyncClient(timeout=self.settings.open_timeout_s) as http:
                response = await http.request(method, url, json=json, headers=headers or self.settings.headers)
        except httpx.TimeoutException as exc:
            raise SttClientError(f"{url}: no answer within {self.settings.open_timeout_s} s", code="timeout") from exc
        except httpx.ConnectError as exc:
            raise SttClientError(
                f"cannot connect to {url}: {exc} (is the server running?)", code="connection_failed"
            ) from exc
        except httpx.HTTPError as exc:
            raise SttClientError(f"cannot connect to {url}: {exc}", code="connection_failed") from exc
        if response.status_code >= 400:
            raise from_http(response.status_code, response.content, f"{url}: HTTP {response.status_code}")
        return response

    async def transcribe_file(
        self,
        path: str | Path,
        options: SessionOptions | dict[str, Any] | None = None,
        *,
        realtime: bool = True,
        speed: float = 1.0,
    ) -> list[p.FinalResult]:
        """Stream a file, stop, and return every final (results are read while the audio goes out)."""
        async with self.stream(options) as stream:

            async def send() -> None:
                await stream.send_file(path, realtime=realtime, speed=speed)
                await stream.stop()

            async def read() -> None:
                async for _ in stream:
                    pass

            await run_both(send(), read())
            return list(stream.finals)


async def run_both(first: Coroutine[Any, Any, None], second: Coroutine[Any, Any, None]) -> None:
    """Run both; the first failure cancels the other and is raised as is (no ExceptionGroup)."""
    tasks = [asyncio.create_task(first), asyncio.create_task(second)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if (error := task.exception()) is not None:
                raise error
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


def _options(options: SessionOptions | dict[str, Any] | None) -> SessionOptions:
    if isinstance(options, SessionOptions):
        return options
    try:
        return parse_session_options(options)
    except ConfigError as exc:
        raise SttClientError(exc.message, code="invalid_options") from exc
