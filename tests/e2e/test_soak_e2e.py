"""The soak (``scripts/soak.py``) for one minute through the real Ray stack: two streams of real speech with
reconnects, bad frames, pauses, silence and restarts; its bookkeeping must hold (every session ended, its
stored transcript equals the finals delivered, every bad frame answered with its own code and no other
error). Latency and memory are the soak's figures, not this test's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))  # the soak and its bench helpers

from bench.corpus import build_stream
from bench.session import BEHIND_CODES
from bench.soak_plan import BAD_FRAMES, KINDS
from bench.soak_score import Thresholds
from soak import SoakConfig, run_soak, score

pytestmark = pytest.mark.e2e


async def test_a_minute_of_soak_loses_nothing(serve_url: str, shared_data: Path) -> None:
    pcm = build_stream(shared_data / "manifest.json").pcm()
    # seed 0 with an event every ~3 s puts every kind and every bad frame in the minute (bench.soak_plan)
    config = SoakConfig(minutes=1.0, sessions=2, slice_minutes=1.0, event_every_s=3.0, settle_s=0.0)
    soak = await run_soak(serve_url, "key-c", pcm, config, root_pid=os.getpid())
    result = score(soak, config, None, Thresholds())

    done = result["events"]
    assert set(BAD_FRAMES) | (set(KINDS) - {"bad_frame"}) <= set(done), done
    errors = result["errors"]
    assert errors["client_failures"] == []
    assert {code for code, row in errors["by_code"].items() if row["injected"]} == {
        f"error:{code}" for code in BAD_FRAMES.values()
    }
    for code, row in errors["by_code"].items():
        assert row["unanswered"] == 0, (code, row)
        # a warning that the server fell behind is timing (the soak's verdict judges it), anything else a defect
        if code.removeprefix("warning:") not in BEHIND_CODES:
            assert row["unexpected"] == 0, (code, row)

    finals = result["finals"]
    assert finals["sessions"] >= 4, finals  # two lanes, each restarted at least once
    assert finals["consistent"] == finals["checked"] == finals["sessions"], finals
    assert finals["delivered"] == finals["stored"] > 0
    assert all(s["stored"]["status"] == "ended" for s in result["sessions"])
    assert sum(len(s["reconnect_s"]) for s in result["sessions"]) == done["reconnect"]

    memory = result["memory"]
    assert [s["phase"] for s in memory["snapshots"]] == ["idle", "idle"]
    assert all(s["processes"] for s in memory["snapshots"]), "no Ray process found under this test's process"
    assert memory["growth"]["rss_mb"] is not None
