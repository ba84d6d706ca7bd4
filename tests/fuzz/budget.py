"""How much fuzzing a run does: hypothesis's profiles for CI and for long local runs.

CI (the default) runs every property with a fixed number of examples and ``derandomize``: the same
examples each run, within about a minute in all. ``RTSTT_FUZZ_SCALE=N`` multiplies every test's
examples (and time limit) by N and draws them at random: a new search each run, failures kept in
``.hypothesis/`` and tried first next time; ``--hypothesis-seed=S`` repeats one such run.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

SCALE = max(1, int(os.environ.get("RTSTT_FUZZ_SCALE", "1")))
# one app serves all the examples of a socket test (a function-scoped fixture, on purpose), and real
# audio makes examples large and slow next to hypothesis's defaults
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
# CI does not shrink a failure (shrinking examples of real audio can take many minutes): the failing example is
# printed as found, and the same command reproduces it (derandomized); a long run shrinks
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_QUIET,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
)
settings.register_profile("explore", derandomize=False, deadline=None, suppress_health_check=_QUIET, print_blob=True)
settings.load_profile("ci" if SCALE == 1 else "explore")


def budget(examples: int) -> int:
    """A test's examples: ``examples`` in CI, times ``RTSTT_FUZZ_SCALE`` in a long run."""
    return examples * SCALE


def timeout(seconds: float) -> pytest.MarkDecorator:
    return pytest.mark.timeout(seconds * SCALE)
