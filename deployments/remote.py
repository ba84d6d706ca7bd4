"""Every Ray call of the application, in one place (as Ray Serve's ActorReplicaWrapper):
the core's ports implemented over deployment handles and actor handles.

A session-host actor that dies (a crash, a killed process) is restarted by Ray; a call that
meets it dead raises :class:`~app.errors.SessionInterrupted`, so the socket closes with 1012 and
its client resumes the session, which the restarted host takes over from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import grpc
import ray
from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError
from ray.serve.handle import DeploymentHandle

from app.enrich.ports import AnalyzeReply, AnalyzeRequest, Embeddings, EmbedRequest
from app.errors import SessionInterrupted, SttError
from app.service.local import pick
from app.session.replies import PollReply, SessionInfo, StartReply, unwrap
from app.streaming.scheduler import PartialReply, PartialRequest
from app.transcript import TranscribeRequest, Transcript


async def _call(ref: Any) -> Any:
    """Await a call to a session host; an application error comes back as itself (with its code and
    message), a dead or restarting host as :class:`SessionInterrupted`."""
    try:
        return await ref
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SttError):
            raise cause from None
        raise
    except (RayActorError, ActorUnavailableError, grpc.aio.AioRpcError) as exc:
        # (a call over gRPC to a replica that died mid-call ends with the RPC's error)
        raise SessionInterrupted() from exc


def direct(handle: DeploymentHandle[Any]) -> DeploymentHandle[Any]:
    """The handle with Serve's gRPC transport between replicas instead of Ray object references: a
    call costs ~1.7 ms of CPU (caller and callee) instead of ~4 (measured on this 2-core machine), and
    the hot paths make ~10 calls a second a stream (an audio frame, a result poll, a partial).
    Errors come back the same (an application error as itself, a dead replica as unavailable)."""
    return handle.options(_by_reference=False)


class DeploymentPort:
    """The core's model ports over one (batched) deployment's handle: ``Transcriber`` for the ASR
    deployments (and ``RealtimePort`` for RealtimeASR), ``Embedder`` for the Diarizer, ``Analyzer``
    for the Analyzer."""

    def __init__(self, handle: DeploymentHandle[Any]) -> None:
        self.handle = direct(handle)

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        result: Transcript = await self.handle.transcribe.remote(request)
        return result

    async def partial(self, request: PartialRequest) -> PartialReply:
        reply: PartialReply = await self.handle.partial.remote(request)
        return reply

    async def embed(self, request: EmbedRequest) -> Embeddings:
        result: Embeddings = await self.handle.embed.remote(request)
        return result

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        result: AnalyzeReply = await self.handle.analyze.remote(request)
        return result

    async def warm(self) -> None:
        await self.handle.warm.remote()


class RayHost:
    """The HostPort over one session host: an actor handle, or the pool's deployment handle (host 0);
    both answer ``.method.remote(...)`` with an awaitable. ``on_lost`` hears of a host that went away."""

    def __init__(self, actor: Any, on_lost: Callable[[], None] | None = None) -> None:
        self.actor = actor
        self._on_lost = on_lost

    async def _call(self, ref: Any) -> Any:
        try:
            reply = await _call(ref)
        except SessionInterrupted:
            if self._on_lost is not None:
                self._on_lost()
            raise
        return unwrap(reply)  # a host's refusal comes back as a value (app/session/replies.py)

    async def start(self, session_id: str, client_id: str, raw: str, *, standalone: bool = False) -> StartReply:
        reply: StartReply = await self._call(self.actor.start.remote(session_id, client_id, raw, standalone=standalone))
        return reply

    async def command(self, session_id: str, client_id: str, raw: str) -> None:
        await self._call(self.actor.command.remote(session_id, client_id, raw))

    async def feed(self, session_id: str, client_id: str, data: bytes) -> None:
        await self._call(self.actor.feed.remote(session_id, client_id, data))

    async def report(self, session_id: str, client_id: str, error: SttError) -> None:
        await self._call(self.actor.report.remote(session_id, client_id, error))

    async def poll(self, session_id: str, client_id: str, after: int, wait_s: float) -> PollReply:
        reply: PollReply = await self._call(self.actor.poll.remote(session_id, client_id, after, wait_s))
        return reply

    async def info(self, session_id: str) -> SessionInfo | None:
        info: SessionInfo | None = await self._call(self.actor.info.remote(session_id))
        return info

    async def live_sessions(self, client_id: str | None = None) -> list[tuple[float, str]]:
        sessions: list[tuple[float, str]] = await self._call(self.actor.live_sessions.remote(client_id))
        return sessions

    async def abandon(self, session_id: str, client_id: str) -> None:
        await self._call(self.actor.abandon.remote(session_id, client_id))

    async def ping(self) -> bool:
        ok: bool = await self._call(self.actor.ping.remote())
        return ok


#: how long a health check waits for the session hosts
PING_TIMEOUT_S = 5.0


class RayDirectory:
    """Session hosts by session id: the same hash on every ingress replica."""

    def __init__(self, pool: DeploymentHandle[Any]) -> None:
        self.pool = direct(pool)
        self._hosts: list[RayHost] = []
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        async with self._lock:
            others = await self.pool.get_hosts.remote()
            self._hosts = [RayHost(self.pool, self._lost), *(RayHost(a, self._lost) for a in others)]

    def _lost(self) -> None:
        """A host went away: a new pool replica makes new hosts, so fetch the list again (once at a time)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(Exception):  # the pool is restarting too: the health check fetches again
            await self.refresh()

    def host_for(self, session_id: str) -> RayHost:
        if not self._hosts:
            raise RuntimeError("session hosts not discovered yet")
        return self._hosts[pick(session_id, len(self._hosts))]

    async def live_sessions(self, client_id: str | None = None) -> list[tuple[float, str]]:
        per_host = await asyncio.gather(*(h.live_sessions(client_id) for h in self._hosts))
        return [entry for sessions in per_host for entry in sessions]

    async def healthy(self) -> bool:
        """Whether every host answers; when one does not, the host list is fetched again (a new pool
        replica makes new hosts), and the answer is still no until they do."""
        try:
            # a host restarting may leave a call waiting: answer "not healthy" rather than hang
            await asyncio.wait_for(asyncio.gather(*(h.ping() for h in self._hosts)), PING_TIMEOUT_S)
        except (SessionInterrupted, TimeoutError):
            self._lost()
            return False
        return bool(self._hosts)


def new_host_actor(actor_cls: Any, *args: Any) -> Any:
    # num_cpus=0: hosts are I/O-bound and must not hold a core from the models (docs/architecture.md §5);
    # a crashed host is restarted (its sessions resume from the store), its calls never retried
    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)(actor_cls).remote(*args)


async def ping_hosts(actors: list[Any]) -> int:
    """How many of ``actors`` answer (a crashed one is down while Ray restarts it)."""
    answers = await asyncio.gather(*(_call(a.ping.remote()) for a in actors), return_exceptions=True)
    return sum(1 for a in answers if a is True)


async def shutdown_hosts(actors: list[Any], timeout_s: float) -> None:
    await asyncio.wait_for(asyncio.gather(*(a.shutdown.remote() for a in actors)), timeout=timeout_s)
