"""The core's Metrics port over Ray's Prometheus metrics (``ray.serve.metrics`` in
replicas, ``ray.util.metrics`` in plain actors such as session hosts)."""

from __future__ import annotations

from typing import Any

from ray.util import metrics as ray_metrics

from app.metrics import METRICS

_BOUNDARIES = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]


class RayMetrics:
    def __init__(self, **default_tags: str) -> None:
        self._default = default_tags
        self._metrics: dict[str, Any] = {}

    def _get(self, kind: type[Any], name: str, tags: dict[str, str], **kwargs: Any) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            keys = tuple(sorted({*self._default, *tags}))
            metric = kind(f"rtstt_{name}", description=METRICS[name].description, tag_keys=keys, **kwargs)
            metric.set_default_tags(self._default)
            self._metrics[name] = metric
        return metric

    def count(self, name: str, value: float = 1.0, **tags: str) -> None:
        if value <= 0:  # Ray's Counter refuses 0 (a frame that decoded to no samples)
            return
        self._get(ray_metrics.Counter, name, tags).inc(value, tags=tags or None)

    def observe(self, name: str, value: float, **tags: str) -> None:
        self._get(ray_metrics.Histogram, name, tags, boundaries=_BOUNDARIES).observe(value, tags=tags or None)

    def gauge(self, name: str, value: float, **tags: str) -> None:
        self._get(ray_metrics.Gauge, name, tags).set(value, tags=tags or None)
