"""What the three batched deployments share (RealtimeASR/MainASR, Diarizer, Analyzer).

Each subclass loads its engine, then calls :meth:`Batched.start_batching`; its ``@serve.batch``
method (``_batched``) stays its own, since the decorator's arguments differ. The batch size and
wait are the deployment's ``user_config`` and change live through :meth:`Batched.reconfigure`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from pydantic import BaseModel
from ray.serve.metrics import Histogram

from app.metrics import METRICS

_BATCH_KEYS = ("batch_size", "batch_wait_timeout_s")

#: ``@serve.deployment`` options of every batched deployment (the config's ``deployments`` may override)
DEPLOYMENT_OPTIONS: dict[str, Any] = {
    "ray_actor_options": {"num_cpus": 0},
    "max_ongoing_requests": 64,
    "health_check_period_s": 10,
    "health_check_timeout_s": 60,  # a replica loading a model is slow to answer its first check
}
ENRICH_BATCH_BOUNDARIES = (1, 2, 4, 8, 16, 32, 64)
ASR_BATCH_BOUNDARIES = (1, 2, 3, 4, 6, 8, 12, 16, 32)


class _BatchSetter(Protocol):
    def set_max_batch_size(self, size: int) -> None: ...
    def set_batch_wait_timeout_s(self, wait_s: float) -> None: ...


class Batched:
    #: the Prometheus histogram of requests per batch (Serve tags it with the deployment's name)
    batch_metric: ClassVar[str]
    batch_boundaries: ClassVar[tuple[float, ...]]
    settings: Any  # a pydantic model with batch_size and batch_wait_timeout_s
    engine: Any
    _batched: Any  # the subclass's @serve.batch method: a _BatchSetter too

    def start_batching(self, settings: BaseModel) -> None:
        self.settings = settings
        self._batch_sizes = Histogram(
            f"rtstt_{self.batch_metric}",
            description=METRICS[self.batch_metric].description,
            boundaries=list(self.batch_boundaries),
        )
        self._apply()

    def observe_batch(self, size: int) -> None:
        self._batch_sizes.observe(size)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """``user_config: {batch_size, batch_wait_timeout_s}``; applied live, validated as the settings are."""
        update = {k: v for k, v in user_config.items() if k in _BATCH_KEYS}
        self.settings = type(self.settings).model_validate({**self.settings.model_dump(), **update})
        self._apply()

    def _apply(self) -> None:
        batched: _BatchSetter = self._batched
        batched.set_max_batch_size(self.settings.batch_size)
        batched.set_batch_wait_timeout_s(self.settings.batch_wait_timeout_s)

    async def check_health(self) -> None:
        if self.engine is None:
            raise RuntimeError(f"{type(self).__name__}: engine not loaded")

    def batch_settings(self) -> dict[str, Any]:
        return {k: getattr(self.settings, k) for k in _BATCH_KEYS}
