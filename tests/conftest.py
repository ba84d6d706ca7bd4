from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "manifest.json").exists():
        pytest.fail(f"test data missing: {SHARED_DATA} (the checkout must sit beside shared/)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def manifest(shared_data: Path) -> list[dict[str, Any]]:
    return list(json.loads((shared_data / "manifest.json").read_text()))


@pytest.fixture(scope="session")
def serve_url() -> Iterator[str]:
    """A real local Ray + Serve app (``tests/serve_app.py``), one per run for tests/e2e and tests/browser."""
    from tests.serve_app import running_app

    with running_app() as url:
        yield url
