"""The ingress deployment: the service's Starlette app behind Ray Serve's proxy."""

from __future__ import annotations

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.applications import Starlette

from app.batch.job import BatchTranscriber
from app.config import ServerSettings
from app.enrich.enrichers import Enrichment
from app.heap import PeriodicTrim
from app.service.routes import build_app
from app.store import TranscriptStore
from deployments.metrics import RayMetrics
from deployments.remote import DeploymentPort, RayDirectory


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
        pool: DeploymentHandle,
        main: DeploymentHandle | None = None,
        diarizer: DeploymentHandle | None = None,
        analyzer: DeploymentHandle | None = None,
    ) -> None:
        self.settings = settings
        self.directory = RayDirectory(pool)
        self.replica_id = serve.get_replica_context().replica_id.unique_id
        self._heap = PeriodicTrim()
        # the REST API's reads and the pre-recorded sessions: one store a replica, opened on first use
        self.store = TranscriptStore(settings.store) if settings.store.enabled else None
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
            metrics=RayMetrics(),
            replica_id=self.replica_id,
            store=self.store,
            batch=self.batch,
        )

    async def check_health(self) -> None:
        # the pool must answer; a session host restarting after a crash is not this replica's fault
        # (replacing it would cut every socket it holds); /healthz reports it as "degraded"
        await self.directory.refresh()
        self._heap.tick()  # what Ray's threads freed, back to the system (app/heap.py)

    async def __del__(self) -> None:
        if self.store is not None:
            await self.store.close()
