"""Session hosts: async Ray actors, each holding many sessions (DESIGN.md §3),
created and owned by the ``SessionHostPool`` deployment so they live and die
with the application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from app.config import ServerSettings
from app.enrich.enrichers import Enrichment
from app.errors import SttError
from app.session.controller import Ports
from app.session.host import PollReply, SessionHost, SessionInfo, StartReply
from app.session.storage import HostStorage
from deployments.metrics import RayMetrics
from deployments.remote import HandleAnalyzer, HandleEmbedder, HandleTranscriber, new_host_actor

log = logging.getLogger("ray.serve")


def session_ports(
    settings: ServerSettings,
    realtime: DeploymentHandle,
    main: DeploymentHandle,
    diarizer: DeploymentHandle | None,
    analyzer: DeploymentHandle | None,
) -> Callable[[], Ports]:
    """A Ports factory: the models are shared, the enrichers are new for each session (the
    diarizer's speaker clusters and the wake-word state belong to one session)."""
    rt, mn = HandleTranscriber(realtime), HandleTranscriber(main)
    enrichment = None
    if diarizer is not None and analyzer is not None:
        enrichment = Enrichment(settings.enrichment, HandleEmbedder(diarizer), HandleAnalyzer(analyzer))

    def ports() -> Ports:
        finals, partials = enrichment.for_session() if enrichment is not None else ([], [])
        return Ports(realtime=rt, main=mn, enrichers=finals, partial_enrichers=partials)

    return ports


class SessionHostActor:
    """The actor body: a thin shell over :class:`app.session.host.SessionHost`."""

    def __init__(
        self,
        settings: ServerSettings,
        realtime: DeploymentHandle,
        main: DeploymentHandle,
        index: int,
        diarizer: DeploymentHandle | None = None,
        analyzer: DeploymentHandle | None = None,
    ) -> None:
        self.index = index
        self.metrics = RayMetrics(host=str(index))
        # one transcript store a host process, opened on first use
        self.storage = HostStorage.from_settings(settings.store, metrics=self.metrics)
        self.host = SessionHost(
            settings,
            session_ports(settings, realtime, main, diarizer, analyzer),
            metrics=self.metrics,
            storage=self.storage,
        )

    async def start(self, session_id: str, client_id: str, raw: str, standalone: bool) -> StartReply:
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

    async def count(self, client_id: str | None = None) -> int:
        return self.host.count(client_id)

    async def ping(self) -> bool:
        return True

    async def shutdown(self) -> None:
        await self.host.shutdown()
        if self.storage is not None:
            await self.storage.store.close()


@serve.deployment(ray_actor_options={"num_cpus": 0}, num_replicas=1, health_check_period_s=10)
class SessionHostPool:
    def __init__(
        self,
        settings: ServerSettings,
        realtime: DeploymentHandle,
        main: DeploymentHandle,
        hosts: int = 2,
        diarizer: DeploymentHandle | None = None,
        analyzer: DeploymentHandle | None = None,
    ) -> None:
        self._hosts = [
            new_host_actor(SessionHostActor, settings, realtime, main, i, diarizer, analyzer) for i in range(hosts)
        ]

    async def get_hosts(self) -> list[Any]:
        return self._hosts

    async def check_health(self) -> None:
        await asyncio.gather(*(h.ping.remote() for h in self._hosts))

    async def __del__(self) -> None:
        # flush what can be flushed; the hosts die with this replica (their owner)
        try:
            await asyncio.wait_for(asyncio.gather(*(h.shutdown.remote() for h in self._hosts)), timeout=10)
        except Exception:
            log.warning("session hosts did not shut down cleanly")
