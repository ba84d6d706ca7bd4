"""The Diarizer's embedding engine, by ``enrichment.diarization.backend``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.enrich.ports import Embeddings, EmbedRequest
from app.enrich.settings import DiarizationSettings


class SpeakerEngine(Protocol):
    device: str

    def embed(self, request: EmbedRequest) -> Embeddings: ...
    def embed_batch(self, requests: Sequence[EmbedRequest]) -> list[Embeddings]: ...


def load_speaker_engine(settings: DiarizationSettings, *, warm_up: bool = True) -> SpeakerEngine:
    """Resemblyzer (bundled weights) or pyannote (the optional extra); imports its backend now."""
    if settings.backend == "pyannote":
        from app.engines.pyannote import PyannoteEngine

        return PyannoteEngine(
            settings.pyannote_model, window_s=settings.window_s, device=settings.device, warm_up=warm_up
        )
    from app.engines.resemblyzer import ResemblyzerEngine

    return ResemblyzerEngine(
        window_s=settings.window_s, device=settings.device, cpu_threads=settings.cpu_threads, warm_up=warm_up
    )
