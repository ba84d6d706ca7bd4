"""MainASR: the main model behind ``@serve.batch`` (RealtimeASR, with its scheduler, is
``deployments/realtime.py``).

First come first served, in one of two ways, by the model's ``batch_strategy``:

* ``parallel`` (CPU): each request is a call of its own, ``num_workers`` at once, and its answer
  goes back the moment its call ends. A batch would only make a short final wait for the longest
  of its batch (eight utterances that end together are eight finals at once);
* ``stacked`` (GPU): requests from every session are gathered into batches of up to
  ``batch_size`` within ``batch_wait_timeout_s`` (both live-reconfigurable through
  ``user_config``), each one CTranslate2 batch.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
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
        self._calls = ThreadPoolExecutor(max_workers=settings.num_workers, thread_name_prefix="main-call")
        self.start_batching(settings)

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        if self.settings.batch_strategy == "parallel":
            self.observe_batch(1)
            loop = asyncio.get_running_loop()
            results: list[Transcript] = await loop.run_in_executor(self._calls, self.engine.transcribe_batch, [request])
            return results[0]
        result: Transcript = await self._batched(request)
        return result

    # several stacked batches may run at once: one decoding while the next is gathered
    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01, max_concurrent_batches=4)
    async def _batched(self, requests: list[TranscribeRequest]) -> list[Transcript]:
        self.observe_batch(len(requests))
        return await asyncio.to_thread(self.engine.transcribe_batch, requests)
