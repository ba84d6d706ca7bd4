"""Diarizer: speaker embeddings of utterance windows behind ``@serve.batch``.

Requests from every session host (each the windows of one utterance, or one window
of a partial) are gathered into one forward pass of the speaker encoder; the
batch size and wait are ``user_config`` and change live. Per-session clustering
stays in the session hosts (``app.enrich``): this deployment holds no session state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve.metrics import Histogram

from app.enrich.ports import Embeddings, EmbedRequest
from app.enrich.settings import DiarizationSettings

log = logging.getLogger("ray.serve")

_BATCH_KEYS = {"batch_size", "batch_wait_timeout_s"}


@serve.deployment(
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=64,
    health_check_period_s=10,
    health_check_timeout_s=60,
)
class Diarizer:
    def __init__(self, settings: dict[str, Any]) -> None:
        from app.engines.speaker import load_speaker_engine  # torch and the model load in the replica only

        self.settings = DiarizationSettings.model_validate(settings)
        self.engine = load_speaker_engine(self.settings)  # warms up with one window
        self._batch_sizes = Histogram(
            "enrich_batch_size",
            description="requests per enrichment batch",
            boundaries=[1, 2, 4, 8, 16, 32, 64],  # Serve tags it with the deployment's name
        )
        self._apply(self.settings.batch_size, self.settings.batch_wait_timeout_s)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``user_config: {batch_size, batch_wait_timeout_s}``; applied live."""
        update = {k: v for k, v in user_config.items() if k in _BATCH_KEYS}
        self.settings = DiarizationSettings.model_validate({**self.settings.model_dump(), **update})
        self._apply(self.settings.batch_size, self.settings.batch_wait_timeout_s)

    def _apply(self, batch_size: int, wait_s: float) -> None:
        self._batched.set_max_batch_size(batch_size)
        self._batched.set_batch_wait_timeout_s(wait_s)

    async def embed(self, request: EmbedRequest) -> Embeddings:
        result: Embeddings = await self._batched(request)
        return result

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _batched(self, requests: list[EmbedRequest]) -> list[Embeddings]:
        self._batch_sizes.observe(len(requests))
        return await asyncio.to_thread(self.engine.embed_batch, requests)

    async def check_health(self) -> None:
        if self.engine is None:
            raise RuntimeError("speaker model not loaded")

    def batch_settings(self) -> dict[str, Any]:
        return {"batch_size": self.settings.batch_size, "batch_wait_timeout_s": self.settings.batch_wait_timeout_s}
