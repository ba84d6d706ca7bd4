"""Analyzer: sentiment and topic similarities behind ``@serve.batch``.

A batch of requests from many sessions costs one sentiment call and one
sentence-model pass (``app.engines.analysis``); topic descriptions are embedded
once and cached. Batch size and wait are ``user_config`` and change live. Turning
each reading into labels and topics (thresholds, granularity) stays in the session
hosts (``app.enrich``), so this deployment holds no session state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve.metrics import Histogram

from app.enrich.ports import AnalyzeReply, AnalyzeRequest
from app.enrich.settings import AnalysisSettings

log = logging.getLogger("ray.serve")

_BATCH_KEYS = {"batch_size", "batch_wait_timeout_s"}


@serve.deployment(
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=64,
    health_check_period_s=10,
    health_check_timeout_s=60,
)
class Analyzer:
    def __init__(self, settings: dict[str, Any]) -> None:
        from app.engines.analysis import AnalysisEngine  # torch and the models load in the replica only

        self.settings = AnalysisSettings.model_validate(settings)
        self.engine = AnalysisEngine(self.settings, eager=True)  # loads and warms both models
        self._batch_sizes = Histogram(
            "enrich_batch_size",
            description="requests per enrichment batch",
            boundaries=[1, 2, 4, 8, 16, 32, 64],  # Serve tags it with the deployment's name
        )
        self._apply(self.settings.batch_size, self.settings.batch_wait_timeout_s)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``user_config: {batch_size, batch_wait_timeout_s}``; applied live."""
        update = {k: v for k, v in user_config.items() if k in _BATCH_KEYS}
        self.settings = AnalysisSettings.model_validate({**self.settings.model_dump(), **update})
        self._apply(self.settings.batch_size, self.settings.batch_wait_timeout_s)

    def _apply(self, batch_size: int, wait_s: float) -> None:
        self._batched.set_max_batch_size(batch_size)
        self._batched.set_batch_wait_timeout_s(wait_s)

    async def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        result: AnalyzeReply = await self._batched(request)
        return result

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _batched(self, requests: list[AnalyzeRequest]) -> list[AnalyzeReply]:
        self._batch_sizes.observe(len(requests))
        return await asyncio.to_thread(self.engine.analyze_batch, requests)

    async def check_health(self) -> None:
        if self.engine is None:
            raise RuntimeError("analysis models not loaded")

    def batch_settings(self) -> dict[str, Any]:
        return {"batch_size": self.settings.batch_size, "batch_wait_timeout_s": self.settings.batch_wait_timeout_s}
