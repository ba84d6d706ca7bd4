"""An in-process directory: session hosts as plain objects in this process (a :class:`SessionHost`
is itself the sockets' ``HostPort``)."""

from __future__ import annotations

import hashlib

from app.session.host import SessionHost


def pick(session_id: str, n: int) -> int:
    """The host index of a session: stable across processes (no per-process hash seed)."""
    return int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=8).digest(), "big") % n


class LocalDirectory:
    def __init__(self, hosts: list[SessionHost]) -> None:
        self.hosts = hosts

    def host_for(self, session_id: str) -> SessionHost:
        return self.hosts[pick(session_id, len(self.hosts))]

    async def live_sessions(self, client_id: str | None = None) -> list[tuple[float, str]]:
        return [entry for h in self.hosts for entry in await h.live_sessions(client_id)]

    async def healthy(self) -> bool:
        return True

    async def refresh(self) -> None:
        """In-process hosts never go away."""
