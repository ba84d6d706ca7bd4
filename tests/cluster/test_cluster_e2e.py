"""A real multi-node Ray cluster: a head and two workers on their own addresses (network namespaces
on one bridge), ``serve deploy`` of ``serve_config.cluster.yaml`` as committed, one live session
through the proxy of every node, and a worker taken down mid-stream.

The cluster as the README's "Running on a Ray cluster" sets it up: the head carries
``rtstt_sessions`` (the session hosts), the workers ``rtstt_models`` (every model replica, one
RealtimeASR and one MainASR on each), every node a proxy on :8000, and one PostgreSQL for all of
them (a throwaway server on a host of its own). The worker taken down is one that
carries an Ingress replica, so its loss cuts sockets as well as model replicas: its network goes
first (its peers hear nothing, as from a machine that lost power), then its processes.

What must hold: every session ends with ``session_ended`` after a ``stop_stream``; a session whose
sockets died resumes through another node and its finals continue in order from ``last_seq``;
finals come after the loss from the surviving worker's models; every final a client received is in
the store, identical (read back through the REST API), and none came twice.

Needs root and iproute2 (``ip netns``) and PostgreSQL's binaries: without them it fails under
``CI=true`` and is skipped elsewhere. ``pytest -m cluster`` runs it alone (about a minute and a
half here: three Ray nodes start, four model replicas load, three sessions stream ~34 s of speech).
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.cluster.kuberay import CLUSTER_CONFIG, failure_detection_env, node_resources
from tests.cluster.lan_postgres import LanPostgres
from tests.cluster.netns import Lan, NetnsUnavailable, check_available, reap_orphans
from tests.cluster.ray_nodes import SERVE_PORT, RayCluster, reap_stale_dirs, replicas
from tests.cluster.streams import LiveStream, StreamLog, Utterance, program
from tests.integration.databases import PG_MISSING, find_pg_bin
from tests.wer import wer

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.timeout(900)]

API_KEY = "cluster-test-key"
#: the nodes' custom resources, as the KubeRay manifest starts them
HEAD_RESOURCES, WORKER_RESOURCES = node_resources()
MODELS = ("RealtimeASR", "MainASR")
#: each session's speech: eight read sentences, 1.5 s apart (~33 s)
_READ = [
    "sb_spk1_snt1",
    "sb_spk1_snt2",
    "sb_spk2_snt1",
    "sb_spk1_snt3",
    "sb_spk2_snt2",
    "sb_spk1_snt5",
    "sb_spk2_snt4",
    "sb_spk1_snt4",
    "sb_spk2_snt5",
    "new_home_in_the_stars",
]
SENTENCES = [(_READ[i:] + _READ[:i])[:8] for i in (0, 3, 6)]
#: every node's failure detection, as the manifest sets it (README "When a worker goes down")
FAILURE_DETECTION = failure_detection_env()
#: how long the streams may take from the loss of the worker to their session_ended
STREAMS_DEADLINE_S = 300
#: the worker goes down once every session has streamed this much and received a final
KILL_AFTER_S = 9.0


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def lan() -> Iterator[Lan]:
    try:
        check_available()
    except NetnsUnavailable as exc:
        _unavailable(str(exc))
    reap_orphans()
    reap_stale_dirs()
    with Lan() as network:
        yield network


@pytest.fixture
def database_url(lan: Lan) -> Iterator[str]:
    bindir = find_pg_bin()
    if bindir is None:
        _unavailable(PG_MISSING)
    server = LanPostgres(bindir, lan.add_host("db"), lan.subnet)
    try:
        server.start()
        yield server.new_database()
    finally:
        server.stop()


@pytest.fixture
def cluster(lan: Lan, database_url: str) -> Iterator[RayCluster]:
    head, workers = lan.add_host("head"), [lan.add_host("w1"), lan.add_host("w2")]
    env = {
        "STT_API_KEYS": f"cluster:{API_KEY}",
        "STT_DATABASE_URL": database_url,
        "STT_JWT_SECRET": "cluster-test-secret-" + "x" * 32,
        **FAILURE_DETECTION,
    }
    nodes = RayCluster(env)
    try:
        nodes.start_head(head, HEAD_RESOURCES)
        nodes.start_workers(workers, WORKER_RESOURCES)
        yield nodes
    finally:
        try:
            lan.close()  # every process of every node, before their files go
        finally:
            if keep := os.environ.get("RTSTT_CLUSTER_LOGS"):  # a folder to keep the nodes' logs in
                nodes.keep_logs(Path(keep))
            nodes.remove_files()


async def _until(condition: Callable[[], bool], tasks: list[asyncio.Task[StreamLog]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for task in tasks:
            if task.done():
                task.result()  # a stream that failed says why
                raise AssertionError("a stream ended before the worker went down")
        if time.monotonic() > deadline:
            raise AssertionError(f"the streams did not reach the kill point within {timeout_s} s")
        await asyncio.sleep(0.2)


def _events(streams: list[tuple[LiveStream, list[Utterance]]], t0: float) -> str:
    """What each stream went through, in seconds from the loss of the worker."""
    lines = []
    for stream, _ in streams:
        lines += [f"{stream.name} {t - t0:+7.2f}s {what}" for t, what in stream.log.events]
    return "\n".join(lines)


def _stacks(tasks: set[asyncio.Task[StreamLog]]) -> str:
    out = io.StringIO()
    for task in tasks:
        task.print_stack(file=out)
    return out.getvalue()


def _best_wer(text: str, spoken: list[Utterance]) -> float:
    return min(wer(u.reference, text) for u in spoken)


def _stored_finals(base: str, session_id: str) -> list[dict[str, Any]]:
    reply = httpx.get(
        f"{base}/v1/sessions/{session_id}/transcript",
        params={"format": "json"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    finals: list[dict[str, Any]] = reply.json()["finals"]
    return finals


async def test_a_worker_node_goes_down_mid_stream(
    cluster: RayCluster, lan: Lan, shared_data: Path, manifest: list[dict[str, Any]]
) -> None:
    began = time.monotonic()
    await asyncio.to_thread(cluster.serve_deploy, CLUSTER_CONFIG)
    details = await asyncio.to_thread(cluster.wait_running, "stt", 480)
    deployed = time.monotonic()
    head, w1, w2 = lan.hosts["head"], lan.hosts["w1"], lan.hosts["w2"]

    # where Serve put everything: the custom resources decide
    for name in MODELS:
        assert sorted(r["node_ip"] for r in replicas(details, "stt", name)) == sorted([w1.address, w2.address]), name
    assert [r["node_ip"] for r in replicas(details, "stt", "SessionHostPool")] == [head.address]
    ingress_nodes = {r["node_ip"] for r in replicas(details, "stt", "Ingress")}
    assert len(ingress_nodes) == 2
    proxies = {v["node_ip"] for v in details["proxies"].values() if v["status"] == "HEALTHY"}
    assert proxies == {head.address, w1.address, w2.address}

    victim, survivor = (w1, w2) if w1.address in ingress_nodes else (w2, w1)
    urls = {h.name: f"http://{h.address}:{SERVE_PORT}" for h in (head, victim, survivor)}
    streams: list[tuple[LiveStream, list[Utterance]]] = []
    for ids, entry in zip(SENTENCES, (head, victim, survivor), strict=True):
        pcm, spoken = program(shared_data, manifest, ids, gap_s=1.5)
        # enter by its node; resume through the head, then the other worker (the one that failed last)
        order = [entry.name, *(n for n in (head.name, survivor.name, victim.name) if n != entry.name)]
        streams.append((LiveStream(entry.name, [urls[n] for n in order], API_KEY, pcm), spoken))

    tasks = [asyncio.create_task(s.run()) for s, _ in streams]
    try:
        await _until(lambda: all(s.log.finals and s.sent_s >= KILL_AFTER_S for s, _ in streams), tasks, 90)
        killed_at = time.monotonic()
        kill_offsets = {s.name: s.sent_s for s, _ in streams}
        await asyncio.to_thread(lan.take_down, victim.name)
        _, stuck = await asyncio.wait(tasks, timeout=STREAMS_DEADLINE_S)
        if stuck:
            raise AssertionError(
                f"streams running {STREAMS_DEADLINE_S} s after the loss:\n{_stacks(stuck)}\n"
                + _events(streams, killed_at)
            )
        try:
            logs = [task.result() for task in tasks]
        except Exception as exc:
            raise AssertionError(f"{exc!r}\n{_events(streams, killed_at)}") from exc
    finally:
        for task in tasks:
            task.cancel()
    streamed = time.monotonic()

    after = await asyncio.to_thread(cluster.serve_details)
    for name in MODELS:
        assert {r["node_ip"] for r in replicas(after, "stt", name)} == {survivor.address}, name

    report = []
    for (stream, spoken), log in zip(streams, logs, strict=True):
        assert stream.session_id is not None
        texts = {s: f.data.text for s, f in sorted(log.finals.items())}
        why = f"{stream.name}: finals {texts}, errors {log.errors}\n{_events(streams, killed_at)}"
        assert log.ended is not None and log.ended.reason == "stopped", why
        assert list(texts) == list(range(1, len(texts) + 1)), why
        assert log.duplicates == 0, why
        # finals only from utterances the model heard whole or in part: real text, not noise
        assert statistics.median(_best_wer(t, spoken) for t in texts.values()) <= 0.15, why
        # the session kept being transcribed after the loss, by the surviving worker's models
        later = [f for f in log.finals.values() if f.data.audio.start > kill_offsets[stream.name] + 0.5]
        assert later and min(_best_wer(f.data.text, spoken) for f in later) <= 0.25, why
        # only an utterance a dying model replica held may fail; nothing else goes wrong
        assert set(log.errors) <= {"transcription_failed"}, why
        # every final the client received is stored, exactly as it was sent, in the one database:
        # read back through the proxies of both surviving nodes
        received = [(s, f.data.text, f.data.audio.start) for s, f in sorted(log.finals.items())]
        for entry in (head, survivor):
            stored = await asyncio.to_thread(_stored_finals, urls[entry.name], stream.session_id)
            assert [(f["seq"], f["text"], f["audio"]["start"]) for f in stored] == received, why
        first_later = min((f.seq for f in later), default=None)
        report.append(
            f"{stream.name}: {len(texts)} finals, resumed {len(log.connections) - 1}x, "
            f"errors {log.errors}, warnings {log.warnings}, frames dropped {log.frames_dropped}, "
            f"first final after the loss: seq {first_later}"
        )
    entered_victim = streams[1][0].log
    assert len(entered_victim.connections) >= 2, "the session through the lost worker did not resume"
    recovery = entered_victim.connections[1][0] - killed_at
    print(
        f"\ncluster: deploy {deployed - began:.0f} s, streams {streamed - deployed:.0f} s; "
        f"the session through {victim.name} resumed {recovery:.1f} s after the loss\n"
        + "\n".join(report)
        + "\n"
        + _events(streams, killed_at)
    )
