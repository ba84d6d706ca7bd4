"""Analyzer: sentiment and topic similarities behind ``@serve.batch``.

A batch of requests from many sessions costs one sentiment call and one
sentence-model pass (``app.engines.analysis``); topic descriptions are embedded
once and cached. Batch size and wait are ``user_config`` and change live. Turning
each reading into labels and topics (thresholds, granularity) stays in the session
hosts (``app.enrich``), so this deployment holds no session state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray import serve

from app.enrich.ports import AnalyzeReply, AnalyzeRequest
from app.enrich.settings import AnalysisSettings
from deployments.batched import DEPLOYMENT_OPTIONS, ENRICH_BATCH_BOUNDARIES, Batched


@serve.deployment(**DEPLOYMENT_OPTIONS)
class Analyzer(Batched):
    batch_metric = "enrich_batch_size"
    batch_boundaries = ENRICH_BATCH_BOUNDARIES

    def __init__(self, settings: dict[str, Any]) -> None:
        from app.engines.analysis import AnalysisEngine  # torch and the models load in the replica only

        checked = AnalysisSettings.model_validate(settings)
        self.engine = AnalysisEngine(checked, eager=True)  # loads and warms both models
        self.start_batching(checked)

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        result: AnalyzeReply = await self._batched(request)
        return result

    async def warm(self) -> bool:
        """Answers once the replica is up with its model loaded (a deployment scaled to zero starts one)."""
        return self.engine is not None

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _batched(self, requests: list[AnalyzeRequest]) -> list[AnalyzeReply]:
        self.observe_batch(len(requests))
        return await asyncio.to_thread(self.engine.analyze_batch, requests)
