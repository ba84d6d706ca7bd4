"""RealtimeASR: the realtime model behind the partial scheduler shared by every session.

Unlike MainASR (``@serve.batch``, first come first served: finals go out in order), partial
requests are scheduled (:mod:`app.streaming.scheduler`): the most overdue session first, a
session's newer request superseding its queued one, and every reply telling all sessions how
often to ask now. On CPU (``batch_strategy: parallel``) the scheduler runs ``num_workers`` calls
at once, one request each; stacked (GPU), two batches of up to ``batch_size`` requests at once.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from ray import serve

from app.config import ModelSettings
from app.streaming.scheduler import PartialReply, PartialRequest, PartialScheduler
from app.transcript import TranscribeRequest, Transcript
from deployments.batched import ASR_BATCH_BOUNDARIES, DEPLOYMENT_OPTIONS, Batched

#: concurrent stacked batches on a GPU: one decoding while the next is gathered
STACKED_SLOTS = 2


@serve.deployment(**DEPLOYMENT_OPTIONS)
class RealtimeASR(Batched):
    batch_metric = "model_batch_size"
    batch_boundaries = ASR_BATCH_BOUNDARIES

    def __init__(self, model: dict[str, Any], intervals: dict[str, float]) -> None:
        from app.engines import WhisperEngine  # loads faster-whisper in the replica only

        settings = ModelSettings.model_validate(model)
        if settings.niceness:
            os.nice(settings.niceness)  # finals (MainASR, not niced) get the cores first
        self.engine = WhisperEngine(settings)  # warms up with one call
        parallel = settings.batch_strategy == "parallel"
        self.scheduler = PartialScheduler(
            self._run,
            slots=settings.num_workers if parallel else STACKED_SLOTS,
            batch_size=1 if parallel else settings.batch_size,
            min_interval_s=intervals["min_interval_s"],
            max_interval_s=intervals["max_interval_s"],
        )
        self.start_batching(settings)

    def _apply(self) -> None:
        if self.settings.batch_strategy == "stacked":
            self.scheduler.batch_size = self.settings.batch_size

    async def partial(self, request: PartialRequest) -> PartialReply:
        return await self.scheduler.submit(request)

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        """One request outside any session's schedule (never superseded)."""
        reply = await self.scheduler.submit(PartialRequest(f"once-{uuid.uuid4().hex}", request))
        assert reply.transcript is not None  # a unique key is never superseded
        return reply.transcript

    async def _run(self, requests: list[TranscribeRequest]) -> list[Transcript]:
        self.observe_batch(len(requests))
        return await asyncio.to_thread(self.engine.transcribe_batch, requests)

    def scheduler_stats(self) -> dict[str, Any]:
        """For operators and the benchmark: calls made, requests superseded, the interval now."""
        s = self.scheduler
        return {"calls": s.calls, "superseded": s.superseded, "interval_s": round(s.interval_s(), 3)}
