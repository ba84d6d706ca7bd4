"""Every Ray call of the application, in one place (as Ray Serve's ActorReplicaWrapper):
the core's ports implemented over deployment handles and actor handles."""

from __future__ import annotations

import asyncio
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.handle import DeploymentHandle

from app.enrich.ports import AnalyzeReply, AnalyzeRequest, Embeddings, EmbedRequest
from app.errors import SttError
from app.service.local import pick
from app.session.host import PollReply, SessionInfo, StartReply
from app.transcript import TranscribeRequest, Transcript


async def _call(ref: Any) -> Any:
    """Await a Ray call; an application error comes back as itself (with its code and message)."""
    try:
        return await ref
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SttError):
            raise cause from None
        raise


class HandleTranscriber:
    """The Transcriber port over a (batched) model deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        result: Transcript = await self.handle.transcribe.remote(request)
        return result


class HandleEmbedder:
    """The Embedder port over the (batched) Diarizer deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def embed(self, request: EmbedRequest) -> Embeddings:
        result: Embeddings = await self.handle.embed.remote(request)
        return result


class HandleAnalyzer:
    """The Analyzer port over the (batched) Analyzer deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        result: AnalyzeReply = await self.handle.analyze.remote(request)
        return result


class RayHost:
    """The HostPort over one session-host actor."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def start(self, session_id: str, client_id: str, raw: str, *, standalone: bool = False) -> StartReply:
        reply: StartReply = await _call(self.actor.start.remote(session_id, client_id, raw, standalone))
        return reply

    async def command(self, session_id: str, client_id: str, raw: str) -> None:
        await _call(self.actor.command.remote(session_id, client_id, raw))

    async def feed(self, session_id: str, client_id: str, data: bytes) -> None:
        await _call(self.actor.feed.remote(session_id, client_id, data))

    async def report(self, session_id: str, client_id: str, error: SttError) -> None:
        await _call(self.actor.report.remote(session_id, client_id, error))

    async def poll(self, session_id: str, client_id: str, after: int, wait_s: float) -> PollReply:
        reply: PollReply = await _call(self.actor.poll.remote(session_id, client_id, after, wait_s))
        return reply

    async def info(self, session_id: str) -> SessionInfo | None:
        info: SessionInfo | None = await _call(self.actor.info.remote(session_id))
        return info

    async def count(self, client_id: str) -> int:
        n: int = await _call(self.actor.count.remote(client_id))
        return n

    async def ping(self) -> bool:
        ok: bool = await _call(self.actor.ping.remote())
        return ok


class RayDirectory:
    """Session hosts by session id: the same hash on every ingress replica."""

    def __init__(self, pool: DeploymentHandle) -> None:
        self.pool = pool
        self._hosts: list[RayHost] = []
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            actors = await self.pool.get_hosts.remote()
            self._hosts = [RayHost(a) for a in actors]

    def host_for(self, session_id: str) -> RayHost:
        if not self._hosts:
            raise RuntimeError("session hosts not discovered yet")
        return self._hosts[pick(session_id, len(self._hosts))]

    async def count_client(self, client_id: str) -> int:
        counts = await asyncio.gather(*(h.count(client_id) for h in self._hosts))
        return sum(counts)

    async def healthy(self) -> bool:
        try:
            await asyncio.gather(*(h.ping() for h in self._hosts))
        except RayActorError:
            await self.refresh()
            return False
        return bool(self._hosts)


def new_host_actor(actor_cls: Any, *args: Any) -> Any:
    # num_cpus=0: hosts are I/O-bound and must not hold a core from the models (DESIGN §7)
    return ray.remote(num_cpus=0, max_restarts=0)(actor_cls).remote(*args)
