"""Fuzzing as tests (see ``budget.py`` for the CI and long-run settings, ``seeds.py`` for the corpus)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import tests.fuzz.budget  # noqa: F401 (loads the hypothesis profile before any test is collected)
from app.config import StoreSettings
from tests.fuzz.flows import Stream, clean_streams

# the app, the real VAD and the clips of the integration suite (fixtures imported here are found by pytest)
from tests.integration.conftest import Stack, serve, speech  # noqa: F401


@pytest.fixture
def stack(serve: Callable[..., Stack], tmp_path: Path) -> Stack:  # noqa: F811
    """One app with a store for all the examples of a test; a stop waits at most 0.2 s for missing audio."""
    return serve(store=StoreSettings(data_dir=str(tmp_path)), stop_wait_s=0.2, max_sessions_per_client=4)


@pytest.fixture(scope="module")
def streams(shared_data: Path, speech: Callable[..., bytes]) -> dict[str, Stream]:  # noqa: F811
    return clean_streams(shared_data, speech)
