"""What every compatible endpoint is given: the app's collaborators, in one object."""

from __future__ import annotations

from dataclasses import dataclass

from app.batch.job import BatchTranscriber
from app.config import ServerSettings
from app.errors import ServiceUnavailable
from app.metrics import Metrics
from app.service.connection import ReplicaState
from app.service.gate import Gate
from app.service.ports import Directory


@dataclass(frozen=True, slots=True)
class Compat:
    settings: ServerSettings
    gate: Gate  # throttling, Origin allow-list, credentials
    directory: Directory
    metrics: Metrics
    batch: BatchTranscriber | None = None  # pre-recorded transcription; None: those endpoints answer 503
    replica: ReplicaState | None = None  # the ingress replica's socket counts (max_connections_per_client)

    @property
    def model(self) -> str:
        """The main model's name, reported where a vendor reports its model."""
        return self.settings.main_model.model

    def prerecorded(self) -> BatchTranscriber:
        if self.batch is None or not self.settings.prerecorded.enabled:
            raise ServiceUnavailable("pre-recorded transcription is not enabled on this server")
        return self.batch
