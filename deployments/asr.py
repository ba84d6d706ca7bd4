"""RealtimeASR and MainASR: one faster-whisper model behind ``@serve.batch``.

Requests from every session host are gathered into batches of up to
``batch_size`` within ``batch_wait_timeout_s`` (both live-reconfigurable through
``user_config``); how a batch runs is the model's ``batch_strategy``: parallel
calls on ``num_workers`` (CPU) or one stacked CTranslate2 batch (GPU).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from ray import serve
from ray.serve.metrics import Histogram

from app.config import ModelSettings
from app.transcript import TranscribeRequest, Transcript

log = logging.getLogger("ray.serve")


@serve.deployment(
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=64,
    health_check_period_s=10,
    health_check_timeout_s=60,
)
class ASR:
    def __init__(self, model: dict[str, Any]) -> None:
        from app.engines import WhisperEngine  # loads faster-whisper in the replica only

        self.settings = ModelSettings.model_validate(model)
        if self.settings.niceness:
            os.nice(self.settings.niceness)  # capped at 19 by the OS; Ray workers already run niced
        self.engine = WhisperEngine(self.settings)  # warms up with one call
        self._batch_sizes = Histogram(
            "model_batch_size",
            description="requests per model batch",
            boundaries=[1, 2, 3, 4, 6, 8, 12, 16, 32],
        )
        self._apply(self.settings.batch_size, self.settings.batch_wait_timeout_s)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``user_config: {batch_size, batch_wait_timeout_s}``; applied live."""
        settings = self.settings.model_copy(
            update={k: v for k, v in user_config.items() if k in {"batch_size", "batch_wait_timeout_s"}}
        )
        checked = ModelSettings.model_validate(settings.model_dump())
        self.settings = checked
        self._apply(checked.batch_size, checked.batch_wait_timeout_s)

    def _apply(self, batch_size: int, wait_s: float) -> None:
        self._batched.set_max_batch_size(batch_size)
        self._batched.set_batch_wait_timeout_s(wait_s)

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        result: Transcript = await self._batched(request)
        return result

    # several batches may run at once: on CPU a batch's requests run on the model's num_workers and
    # CTranslate2 queues the rest, so a new request never waits for a whole earlier batch to finish
    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01, max_concurrent_batches=4)
    async def _batched(self, requests: list[TranscribeRequest]) -> list[Transcript]:
        self._batch_sizes.observe(len(requests))
        return await asyncio.to_thread(self.engine.transcribe_batch, requests)

    async def check_health(self) -> None:
        if self.engine is None:
            raise RuntimeError("model not loaded")

    def batch_settings(self) -> dict[str, Any]:
        return {"batch_size": self.settings.batch_size, "batch_wait_timeout_s": self.settings.batch_wait_timeout_s}
