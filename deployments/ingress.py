"""The ingress deployment: the service's Starlette app behind Ray Serve's proxy.

Its sockets reach the sessions through a directory: the ``SessionHostPool``'s hosts (a Ray call per
audio frame and result poll), or, with ``hosts_in_ingress`` (one ingress replica), a session host
in this very process (no call between the socket and its session: docs/architecture.md §5).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve.context import ReplicaContext
from ray.serve.handle import DeploymentHandle
from starlette.applications import Starlette

from app.batch.job import BatchTranscriber
from app.config import ServerSettings
from app.enrich.enrichers import Enrichment
from app.heap import PeriodicTrim
from app.service.local import LocalDirectory
from app.service.ports import Directory
from app.service.routes import build_app
from app.session.host import SessionHost
from app.session.storage import HostStorage
from app.store import TranscriptStore
from deployments.hosts import session_ports
from deployments.metrics import RayMetrics
from deployments.remote import DeploymentPort, RayDirectory

log = logging.getLogger("ray.serve")


def single_replica(context: ReplicaContext) -> None:
    """Refuse to start as one of several replicas (a config's ``deployments`` may have set more): both
    sockets of a session must reach the replica that hosts it, and Serve's proxy routes each socket
    to any replica."""
    autoscaling = context._deployment_config.autoscaling_config
    most = autoscaling.max_replicas if autoscaling is not None else (context.world_size or 1)
    if most > 1:
        raise ValueError(
            f"hosts_in_ingress: the Ingress deployment may have {most} replicas; sessions hosted in the "
            "ingress need exactly one (set num_replicas: 1, or hosts_in_ingress: false for a SessionHostPool)"
        )


@serve.deployment(
    ray_actor_options={"num_cpus": 0},
    # every open WebSocket holds one slot for its life: room for both sockets of many sessions
    max_ongoing_requests=1000,
    health_check_period_s=10,
)
@serve.ingress()
class Ingress:
    def __init__(
        self,
        settings: ServerSettings,
        pool: DeploymentHandle[Any] | None,
        main: DeploymentHandle[Any] | None = None,
        diarizer: DeploymentHandle[Any] | None = None,
        analyzer: DeploymentHandle[Any] | None = None,
        realtime: DeploymentHandle[Any] | None = None,
    ) -> None:
        """``pool``: the session hosts' deployment; None hosts the sessions here (``realtime`` and
        ``main`` are then the models they call)."""
        self.settings = settings
        context = serve.get_replica_context()
        self.replica_id = context.replica_id.unique_id
        self._heap = PeriodicTrim()
        # the REST API's reads, the pre-recorded sessions (and the sessions hosted here): one store a
        # replica, opened on first use
        self.store = TranscriptStore(settings.store) if settings.store.enabled else None
        self.host: SessionHost | None = None
        self.directory: Directory
        if pool is not None:
            self.metrics = RayMetrics()
            self.directory = RayDirectory(pool)
        else:
            if realtime is None or main is None:
                raise ValueError("sessions hosted in the ingress need the realtime and main model handles")
            single_replica(context)
            # one metrics object a process: the host's and the sockets' metrics share Ray's registry
            self.metrics = RayMetrics(host="0")
            storage = HostStorage.from_settings(settings.store, metrics=self.metrics, store=self.store)
            ports = session_ports(settings, realtime, main, diarizer, analyzer)
            self.host = SessionHost(settings, ports, metrics=self.metrics, storage=storage)
            self.directory = LocalDirectory([self.host])
        self.batch = None
        if main is not None:
            enrichment = None
            if diarizer is not None and analyzer is not None:
                enrichment = Enrichment(settings.enrichment, DeploymentPort(diarizer), DeploymentPort(analyzer))
            self.batch = BatchTranscriber(settings, DeploymentPort(main), enrichment=enrichment, store=self.store)

    async def __serve_build_asgi_app__(self) -> Starlette:
        await self.directory.refresh()
        return build_app(
            self.settings,
            self.directory,
            metrics=self.metrics,
            replica_id=self.replica_id,
            store=self.store,
            batch=self.batch,
        )

    async def check_health(self) -> None:
        # with a pool: it must answer; a session host restarting after a crash is not this replica's
        # fault (replacing it would cut every socket it holds); /healthz reports it as "degraded".
        # With the sessions hosted here there is nothing to ask.
        await self.directory.refresh()
        self._heap.tick()  # what Ray's threads freed, back to the system (app/heap.py)

    async def __del__(self) -> None:
        if self.host is not None:
            # flush what can be flushed: stored sessions are left for their clients to resume
            try:
                await asyncio.wait_for(self.host.shutdown(), timeout=10)
            except Exception:
                log.warning("the ingress's session host did not shut down cleanly")
        if self.store is not None:
            await self.store.close()
