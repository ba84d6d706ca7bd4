"""A tiny metrics port: the core names what happened, a backend records it.

The Ray deployments back it with ``ray.serve.metrics`` / ``ray.util.metrics`` (Prometheus, each
name prefixed ``rtstt_``); tests and the file mode use :class:`MemoryMetrics` / :class:`NullMetrics`.
:data:`METRICS` is the one table of names (the README lists the same; :class:`MemoryMetrics`
refuses a name or kind that is not in it, so a test catches an undocumented metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    kind: Kind
    description: str
    tags: tuple[str, ...] = ()


METRICS: dict[str, MetricSpec] = {
    "sessions_active": MetricSpec("gauge", "live sessions", ("host",)),
    "sessions_started": MetricSpec("counter", "sessions started (resumes not counted)"),
    "audio_seconds": MetricSpec("counter", "seconds of audio decoded", ("host",)),
    "audio_bytes": MetricSpec("counter", "bytes of audio received by the ingress"),
    "partial_latency_s": MetricSpec("histogram", "seconds from a realtime call's start to its partial", ("host",)),
    "final_latency_s": MetricSpec("histogram", "seconds from the end of an utterance to its final", ("host",)),
    "store_write_s": MetricSpec("histogram", "seconds to store a final before it is sent", ("host",)),
    "model_batch_size": MetricSpec("histogram", "requests per model batch (RealtimeASR, MainASR)", ("deployment",)),
    "enrich_batch_size": MetricSpec("histogram", "requests per enrichment batch (Diarizer, Analyzer)", ("deployment",)),
    "errors": MetricSpec("counter", "errors and warnings by wire code", ("code",)),
}


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
        _check(name, "counter")
        if value <= 0:
            raise ValueError(f"counter {name} increment must be positive, got {value}")
        key = (name, tuple(sorted(tags.items())))
        self.counts[key] = self.counts.get(key, 0.0) + value

    def observe(self, name: str, value: float, **tags: str) -> None:
        _check(name, "histogram")
        self.observations.setdefault(name, []).append(value)

    def gauge(self, name: str, value: float, **tags: str) -> None:
        _check(name, "gauge")
        self.gauges[(name, tuple(sorted(tags.items())))] = value


def _check(name: str, kind: Kind) -> None:
    spec = METRICS.get(name)
    if spec is None or spec.kind != kind:
        raise ValueError(f"{kind} {name!r} is not in app.metrics.METRICS")
