"""Sessions hosted in the ingress replica's own process (``hosts_in_ingress``: the layout of
``serve_config.yaml``) through the real Ray stack: a second application beside the shared one, in
the same Ray and Serve, at ``/inhost``.

Its one ingress replica is killed (SIGKILL) in the middle of a stream of real speech: the sockets
and the sessions die together, Serve replaces the replica, the client resumes by itself, and the new
replica's host takes the session over from the store. Every utterance spoken still gets exactly one
final, in order, stored as delivered (``tests/faults.py``, as ``test_z_faults_e2e.py`` for the
shared app's components).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults import run_fault
from tests.serve_app import IN_INGRESS_ARGS, second_app
from tests.wer import wer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

APP = "inhost"


@pytest.fixture(scope="module")
def inhost_url(serve_url: str) -> Iterator[str]:
    with second_app(serve_url, APP, IN_INGRESS_ARGS) as url:
        yield url


def test_the_app_has_no_session_host_deployment(inhost_url: str) -> None:
    from ray import serve

    deployments = serve.status().applications[APP].deployments
    assert set(deployments) == {"Ingress", "RealtimeASR", "MainASR", "Diarizer", "Analyzer"}


async def test_a_killed_ingress_hosting_the_session_costs_no_final(
    inhost_url: str, shared_data: Path, record_property: Callable[[str, object], None]
) -> None:
    run = await run_fault("ingress", inhost_url, shared_data, api_key="key-a", app=APP, ingress_replicas=1)
    record_property("recovery_s", run.recovery_s())
    print(f"\ningress (hosting the session): resumed after {run.recovery_s()} s, replaced after {run.replaced_after} s")

    # every utterance spoken: exactly one final, in order, each the words spoken
    assert [f.seq for f in run.finals] == list(range(1, len(run.references) + 1)), [f.data.text for f in run.finals]
    for final, reference in zip(run.finals, run.references, strict=True):
        assert wer(reference, final.data.text) <= 0.35, (reference, final.data.text)
    assert run.errors == []
    assert [(f["seq"], f["text"]) for f in run.stored] == [(f.seq, f.data.text) for f in run.finals]
    # the socket dropped (the process is gone, not a host behind it): the client resumed once the
    # replacement answered, and the session went on from the store
    kinds = [e.kind for e in run.events]
    assert "failed" not in kinds and kinds[-1] == "resumed" and run.resumed_after is not None
    lost = run.events[0].error
    assert lost is not None and not lost.fatal
