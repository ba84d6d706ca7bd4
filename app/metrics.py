"""A tiny metrics port: the core names what happened, a backend records it.

The Ray deployments back it with ``ray.serve.metrics`` / ``ray.util.metrics``
(Prometheus); tests and the file mode use :class:`NullMetrics`. Names and tags:

=========================  =========  ===========================================
name                       kind       tags
=========================  =========  ===========================================
``sessions_active``        gauge      ``host``
``sessions_started``       counter    (none)
``audio_seconds``          counter    (none)
``partial_latency_s``      histogram  (none) model call + queueing, per partial
``final_latency_s``        histogram  (none) utterance end → final sent
``model_batch_size``       histogram  ``model``
``errors``                 counter    ``code``
=========================  =========  ===========================================
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    def count(self, name: str, value: float = 1.0, **tags: str) -> None: ...
    def observe(self, name: str, value: float, **tags: str) -> None: ...
    def gauge(self, name: str, value: float, **tags: str) -> None: ...


class NullMetrics:
    def count(self, name: str, value: float = 1.0, **tags: str) -> None:
        pass

    def observe(self, name: str, value: float, **tags: str) -> None:
        pass

    def gauge(self, name: str, value: float, **tags: str) -> None:
        pass


class MemoryMetrics:
    """Records everything; for tests. Like Ray's Counter it refuses an increment that is not
    positive, so a test catches the core counting nothing (Ray's backend skips it instead)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.observations: dict[str, list[float]] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def count(self, name: str, value: float = 1.0, **tags: str) -> None:
        if value <= 0:
            raise ValueError(f"counter {name} increment must be positive, got {value}")
        key = (name, tuple(sorted(tags.items())))
        self.counts[key] = self.counts.get(key, 0.0) + value

    def observe(self, name: str, value: float, **tags: str) -> None:
        self.observations.setdefault(name, []).append(value)

    def gauge(self, name: str, value: float, **tags: str) -> None:
        self.gauges[(name, tuple(sorted(tags.items())))] = value
