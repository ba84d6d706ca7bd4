"""An in-process directory: session hosts as plain objects in this process."""

from __future__ import annotations

import hashlib

from app.errors import SttError
from app.session.host import PollReply, SessionHost, SessionInfo, StartReply


def pick(session_id: str, n: int) -> int:
    """The host index of a session: stable across processes (no per-process hash seed)."""
    return int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=8).digest(), "big") % n


class LocalHost:
    def __init__(self, host: SessionHost) -> None:
        self.host = host

    async def start(self, session_id: str, client_id: str, raw: str, *, standalone: bool = False) -> StartReply:
        return await self.host.start(session_id, client_id, raw, standalone=standalone)

    async def command(self, session_id: str, client_id: str, raw: str) -> None:
        await self.host.command(session_id, client_id, raw)

    async def feed(self, session_id: str, client_id: str, data: bytes) -> None:
        await self.host.feed(session_id, client_id, data)

    async def report(self, session_id: str, client_id: str, error: SttError) -> None:
        self.host.report(session_id, client_id, error)

    async def poll(self, session_id: str, client_id: str, after: int, wait_s: float) -> PollReply:
        return await self.host.poll(session_id, client_id, after, wait_s)

    async def info(self, session_id: str) -> SessionInfo | None:
        return self.host.info(session_id)

    async def client_sessions(self, client_id: str) -> list[tuple[float, str]]:
        return self.host.client_sessions(client_id)

    async def abandon(self, session_id: str, client_id: str) -> None:
        await self.host.abandon(session_id, client_id)


class LocalDirectory:
    def __init__(self, hosts: list[SessionHost]) -> None:
        self.hosts = [LocalHost(h) for h in hosts]

    def host_for(self, session_id: str) -> LocalHost:
        return self.hosts[pick(session_id, len(self.hosts))]

    async def client_sessions(self, client_id: str) -> list[tuple[float, str]]:
        return [entry for h in self.hosts for entry in h.host.client_sessions(client_id)]

    async def healthy(self) -> bool:
        return True
