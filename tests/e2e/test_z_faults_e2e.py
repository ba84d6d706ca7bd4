"""Faults through the real Ray stack (README "When a component dies"): MainASR, RealtimeASR, a session
host and an ingress replica, each killed by PID (SIGKILL) in the middle of a stream of real speech
(``tests/faults.py``). The stream goes on, or the client resumes by itself, and every utterance spoken
gets exactly one final, in order, stored as it was delivered.

The shared app is the victim: this module's name makes it the last e2e module, and each test waits
until what it killed has been replaced (``wait_replaced``), so whatever runs after finds the app
whole. ``scripts/measure_faults.py`` measures the recovery times these tests only report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults import FAULTS, run_fault
from tests.wer import wer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_killed_component_costs_no_final(
    fault: str, serve_url: str, shared_data: Path, record_property: Callable[[str, object], None]
) -> None:
    run = await run_fault(fault, serve_url, shared_data, api_key="key-a")
    record_property("recovery_s", run.recovery_s())
    record_property("replaced_s", run.replaced_after)
    print(f"\n{fault}: recovered after {run.recovery_s()} s, replaced after {run.replaced_after} s")

    # every utterance spoken: exactly one final, in order, each the words spoken
    assert [f.seq for f in run.finals] == list(range(1, len(run.references) + 1)), [f.data.text for f in run.finals]
    for final, reference in zip(run.finals, run.references, strict=True):
        assert wer(reference, final.data.text) <= 0.35, (reference, final.data.text)
    assert run.errors == []
    # stored exactly as delivered
    assert [(f["seq"], f["text"]) for f in run.stored] == [(f.seq, f.data.text) for f in run.finals]

    kinds = [e.kind for e in run.events]
    if fault in ("main", "realtime"):
        assert kinds == []  # the sockets never dropped: the stream went on
    else:
        assert "failed" not in kinds and kinds[-1] == "resumed" and run.resumed_after is not None
        lost = run.events[0].error
        assert lost is not None and not lost.fatal
        if fault == "host":  # the ingress says so: the host went away, the session is not over
            assert (lost.code, lost.close_code) == ("session_interrupted", 1012)
    if fault == "realtime":
        assert run.partials_before > 0 and run.first_partial_after is not None  # partials came back
