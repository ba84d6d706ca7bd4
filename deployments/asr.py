"""MainASR: the main model behind ``@serve.batch`` (RealtimeASR, with its scheduler, is
``deployments/realtime.py``).

Requests from every session host are gathered into batches of up to ``batch_size`` within
``batch_wait_timeout_s`` (both live-reconfigurable through ``user_config``), first come first
served; how a batch runs is the model's ``batch_strategy``: parallel calls on ``num_workers``
(CPU) or one stacked CTranslate2 batch (GPU).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ray import serve

from app.config import ModelSettings
from app.transcript import TranscribeRequest, Transcript
from deployments.batched import ASR_BATCH_BOUNDARIES, DEPLOYMENT_OPTIONS, Batched


@serve.deployment(**DEPLOYMENT_OPTIONS)
class ASR(Batched):
    batch_metric = "model_batch_size"
    batch_boundaries = ASR_BATCH_BOUNDARIES

    def __init__(self, model: dict[str, Any]) -> None:
        from app.engines import WhisperEngine  # loads faster-whisper in the replica only

        settings = ModelSettings.model_validate(model)
        if settings.niceness:
            os.nice(settings.niceness)  # capped at 19 by the OS
        self.engine = WhisperEngine(settings)  # warms up with one call
        self.start_batching(settings)

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        result: Transcript = await self._batched(request)
        return result

    # several batches may run at once: on CPU a batch's requests run on the model's num_workers and
    # CTranslate2 queues the rest, so a new request never waits for a whole earlier batch to finish
    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01, max_concurrent_batches=4)
    async def _batched(self, requests: list[TranscribeRequest]) -> list[Transcript]:
        self.observe_batch(len(requests))
        return await asyncio.to_thread(self.engine.transcribe_batch, requests)
