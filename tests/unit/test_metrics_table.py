"""One table of metric names: the README lists exactly app.metrics.METRICS, and recording a name
that is not in it fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.metrics import METRICS, MemoryMetrics

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_lists_exactly_the_metrics() -> None:
    paragraph = README[README.index("* Metrics (Prometheus") :].split("\n\n")[0]
    named = {m.split("{")[0] for m in re.findall(r"`([a-z_]+(?:\{[a-z]+\})?)`", paragraph)} - {"rtstt_"}
    assert named - {"app", "metrics", "METRICS"} == set(METRICS)


def test_an_undocumented_metric_or_a_wrong_kind_is_refused() -> None:
    metrics = MemoryMetrics()
    metrics.count("errors", code="x")
    with pytest.raises(ValueError, match=r"not in app\.metrics\.METRICS"):
        metrics.count("made_up_total")
    with pytest.raises(ValueError, match=r"not in app\.metrics\.METRICS"):
        metrics.observe("errors", 1.0)
