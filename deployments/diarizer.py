"""Diarizer: speaker embeddings of utterance windows behind ``@serve.batch``.

Requests from every session host (each the windows of one utterance, the speaker tracker's
sliding windows of an utterance in progress, or one window of a partial) are gathered into one
forward pass of the speaker encoder; the
batch size and wait are ``user_config`` and change live. Per-session clustering
stays in the session hosts (``app.enrich``): this deployment holds no session state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray import serve

from app.enrich.ports import Embeddings, EmbedRequest
from app.enrich.settings import DiarizationSettings
from deployments.batched import DEPLOYMENT_OPTIONS, ENRICH_BATCH_BOUNDARIES, Batched


@serve.deployment(**DEPLOYMENT_OPTIONS)
class Diarizer(Batched):
    batch_metric = "enrich_batch_size"
    batch_boundaries = ENRICH_BATCH_BOUNDARIES

    def __init__(self, settings: dict[str, Any]) -> None:
        from app.engines.speaker import load_speaker_engine  # torch and the model load in the replica only

        checked = DiarizationSettings.model_validate(settings)
        self.engine = load_speaker_engine(checked)  # warms up with one window
        self.start_batching(checked)

    async def embed(self, request: EmbedRequest) -> Embeddings:
        result: Embeddings = await self._batched(request)
        return result

    async def warm(self) -> bool:
        """Answers once the replica is up with its model loaded (a deployment scaled to zero starts one)."""
        return self.engine is not None

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _batched(self, requests: list[EmbedRequest]) -> list[Embeddings]:
        self.observe_batch(len(requests))
        return await asyncio.to_thread(self.engine.embed_batch, requests)
