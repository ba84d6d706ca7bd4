"""Session hosts: async Ray actors, each holding many sessions (docs/architecture.md §5),
created and owned by the ``SessionHostPool`` deployment so they live and die
with the application."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from app.config import ServerSettings
from app.enrich.enrichers import Enrichment
from app.errors import SttError
from app.heap import PeriodicTrim
from app.session.host import SessionHost
from app.session.ports import Ports
from app.session.replies import PollReply, Refused, SessionInfo, StartReply, answer
from app.session.storage import HostStorage
from deployments.metrics import RayMetrics
from deployments.remote import DeploymentPort, new_host_actor, ping_hosts, shutdown_hosts

log = logging.getLogger("ray.serve")


def session_ports(
    settings: ServerSettings,
    realtime: DeploymentHandle[Any],
    main: DeploymentHandle[Any],
    diarizer: DeploymentHandle[Any] | None,
    analyzer: DeploymentHandle[Any] | None,
) -> Callable[[], Ports]:
    """A Ports factory: the models are shared, the enrichers are new for each session (the
    diarizer's speaker clusters and the wake-word state belong to one session)."""
    rt, mn = DeploymentPort(realtime), DeploymentPort(main)
    enrichment = None
    if diarizer is not None and analyzer is not None:
        enrichment = Enrichment(settings.enrichment, DeploymentPort(diarizer), DeploymentPort(analyzer))

    def ports() -> Ports:
        finals, partials = enrichment.for_session() if enrichment is not None else ([], [])
        return Ports(realtime=rt, main=mn, enrichers=finals, partial_enrichers=partials)

    return ports


class SessionHostActor(SessionHost):
    """The actor: a :class:`app.session.host.SessionHost` (its async methods are what the ingress calls
    through ``deployments/remote.py``) with Ray's metrics and its own transcript store."""

    def __init__(
        self,
        settings: ServerSettings,
        realtime: DeploymentHandle[Any],
        main: DeploymentHandle[Any],
        index: int,
        diarizer: DeploymentHandle[Any] | None = None,
        analyzer: DeploymentHandle[Any] | None = None,
    ) -> None:
        self.index = index
        self._heap = PeriodicTrim()
        metrics = RayMetrics(host=str(index))
        # one transcript store a host process, opened on first use
        storage = HostStorage.from_settings(settings.store, metrics=metrics)
        super().__init__(
            settings, session_ports(settings, realtime, main, diarizer, analyzer), metrics=metrics, storage=storage
        )

    # The sockets' calls (app/service/ports.py HostPort): a refusal comes back as a value, not raised
    # (app/session/replies.py: Serve would log a traceback for each, and a client can repeat one per frame)

    async def start(  # type: ignore[override]
        self, session_id: str, client_id: str, raw: str, *, standalone: bool = False
    ) -> StartReply | Refused:
        return await answer(super().start(session_id, client_id, raw, standalone=standalone), "start")

    async def command(self, session_id: str, client_id: str, raw: str) -> Refused | None:  # type: ignore[override]
        return await answer(super().command(session_id, client_id, raw), "command")

    async def feed(self, session_id: str, client_id: str, data: bytes) -> Refused | None:  # type: ignore[override]
        return await answer(super().feed(session_id, client_id, data), "feed")

    async def report(  # type: ignore[override]
        self, session_id: str, client_id: str, error: SttError
    ) -> Refused | None:
        return await answer(super().report(session_id, client_id, error), "report")

    async def poll(  # type: ignore[override]
        self, session_id: str, client_id: str, after: int, wait_s: float = 20.0
    ) -> PollReply | Refused:
        return await answer(super().poll(session_id, client_id, after, wait_s), "poll")

    async def info(self, session_id: str) -> SessionInfo | Refused | None:  # type: ignore[override]
        return await answer(super().info(session_id), "info")

    async def abandon(self, session_id: str, client_id: str) -> Refused | None:  # type: ignore[override]
        return await answer(super().abandon(session_id, client_id), "abandon")

    def reap(self) -> None:
        super().reap()
        # the frames and replies of Ray's many threads fragment glibc's arenas: give the free pages back
        self._heap.tick()

    async def ping(self) -> bool:
        return True

    async def pid(self) -> int:
        """The host's process (for operators, and the fault tests that kill it)."""
        return os.getpid()

    async def shutdown(self, *, flush: bool = True) -> None:
        await super().shutdown(flush=flush)
        if self.storage is not None:
            await self.storage.store.close()


@serve.deployment(
    ray_actor_options={"num_cpus": 0},
    num_replicas=1,
    # every socket's result long-poll and audio frames reach this replica's sessions
    max_ongoing_requests=100_000,
    health_check_period_s=10,
    # an access-log line for every audio frame and every poll would be most of the logs
    logging_config={"enable_access_log": False},
)
class SessionHostPool(SessionHostActor):
    def __init__(
        self,
        settings: ServerSettings,
        realtime: DeploymentHandle[Any],
        main: DeploymentHandle[Any],
        hosts: int = 2,
        diarizer: DeploymentHandle[Any] | None = None,
        analyzer: DeploymentHandle[Any] | None = None,
    ) -> None:
        super().__init__(settings, realtime, main, 0, diarizer, analyzer)
        self._others = [
            new_host_actor(SessionHostActor, settings, realtime, main, i, diarizer, analyzer) for i in range(1, hosts)
        ]

    async def get_hosts(self) -> list[Any]:
        """The other hosts' actor handles (host 0 is this replica)."""
        return self._others

    async def check_health(self) -> None:
        # a host that crashed is being restarted by Ray: failing here would make Serve replace this
        # replica, and with it every other host and its sessions
        up = await ping_hosts(self._others)
        if up < len(self._others):
            log.warning("%d of %d session hosts are restarting", len(self._others) - up, len(self._others) + 1)

    async def __del__(self) -> None:
        # flush what can be flushed; the other hosts die with this replica (their owner)
        try:
            await asyncio.wait_for(self.shutdown(), timeout=10)
            await shutdown_hosts(self._others, timeout_s=10)
        except Exception:
            log.warning("session hosts did not shut down cleanly")
