"""Faults through the real Ray stack: one component of the running app killed by PID (SIGKILL, as a
crash would) in the middle of a stream of real speech, and what the client saw.

:func:`run_fault` streams five read sentences (``../shared/data``) through the Python client, which
resumes by itself, kills the component when the stream reaches a chosen point, finishes the stream,
reads the stored transcript back through the REST API and waits until Serve (or Ray) has replaced
what was killed. ``tests/e2e/test_z_faults_e2e.py`` checks the behaviour on the result and
``scripts/measure_faults.py`` measures the recovery times. It runs in the process that started Ray
(the app's driver), which it asks for the replicas' PIDs.

The components (:data:`FAULTS`), and when each is killed:

* ``main`` (MainASR): when the second utterance starts, so that its final's calls (the speculative one
  in the pause, then the final's) meet a dead or restarting replica;
* ``realtime`` (RealtimeASR), ``host`` (the second session host, a Ray actor: a session whose id hashes
  to it is streamed) and ``ingress`` (the replica holding the stream's control socket): at the second
  utterance's first partial, so that it is in progress (heard, not finalised) when the fault strikes.

Times (:class:`FaultRun`) are seconds after the kill, measured at the client: the next final, the next
partial, the resumed stream, and when Serve or Ray had the killed process replaced (its successor
running and the app healthy: polled from the kill on, every 0.25 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.client import ResumeEvent, ResumePolicy, SttClient
from app.service.local import pick
from app.transcript import SAMPLE_RATE

APP = "stt"
FAULTS = ("main", "realtime", "host", "ingress")
DEPLOYMENTS = {"main": "MainASR", "realtime": "RealtimeASR", "host": "SessionHostPool", "ingress": "Ingress"}
#: five read sentences, one utterance each
CLIPS = ("sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "sb_spk1_snt3.wav", "sb_spk2_snt4.wav", "LDC93S1.wav")
GAP_S = 1.2
#: the client resumes by itself, as any user's does (the default policy)
POLICY = ResumePolicy()


@dataclass
class FaultRun:
    """What one stream saw of one fault; times are seconds after the kill (None: never)."""

    fault: str
    session_id: str
    references: list[str]
    killed_pid: int
    finals: list[p.FinalResult] = field(default_factory=list)
    errors: list[p.Error] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)
    events: list[ResumeEvent] = field(default_factory=list)
    partials_before: int = 0
    first_final_after: float | None = None
    first_final_delay: float | None = None  # from its utterance_end to it (normally ~0.1 s)
    first_partial_after: float | None = None
    resumed_after: float | None = None
    replaced_after: float | None = None  # what was killed runs again and the app is healthy

    def recovery_s(self) -> float | None:
        """The time to recover, as the client sees it: how late the next final came after its
        utterance ended (MainASR), the next partial (RealtimeASR), the resumed stream (session host,
        ingress)."""
        if self.fault == "main":
            return self.first_final_delay
        if self.fault == "realtime":
            return self.first_partial_after
        return self.resumed_after


def speech(shared_data: Path) -> tuple[bytes, list[str]]:
    """The clips with ``GAP_S`` of silence after each (0.5 s before the first), and their references."""
    manifest = {e["file"]: e["reference"] for e in json.loads((shared_data / "manifest.json").read_text())}
    parts = [np.zeros(SAMPLE_RATE // 2, np.float32)]
    for name in CLIPS:
        parts += [load_audio(shared_data / "clips" / name), np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)]
    return to_pcm16(np.concatenate(parts)), [manifest[f"clips/{name}"] for name in CLIPS]


# --------------------------------------------------------------------------- the app's processes


def _controller() -> Any:
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    assert client is not None
    return client._controller


async def replica_pids(deployment: str, app: str = APP) -> dict[str, int]:
    """``replica_id -> pid`` of the deployment's running replicas (as Serve's controller knows them)."""
    details = await _controller().get_serve_instance_details.remote()
    replicas = details["applications"][app]["deployments"][deployment].get("replicas", [])
    return {r["replica_id"]: int(r["pid"]) for r in replicas if r.get("state") == "RUNNING" and r.get("pid")}


async def host_actor(index: int) -> Any:
    """The handle of session host ``index`` (1 and up: the actors the pool replica owns)."""
    from ray import serve

    pool = serve.get_deployment_handle("SessionHostPool", app_name=APP)
    return (await pool.get_hosts.remote())[index - 1]


def session_on_host(index: int, hosts: int) -> str:
    """A new session id that hashes to host ``index`` (the directory's hash, ``app/service/local.py``)."""
    while pick(sid := uuid.uuid4().hex, hosts) != index:
        pass
    return sid


async def wait_replaced(
    fault: str, killed: int, url: str, timeout_s: float = 240.0, *, app: str = APP, ingress_replicas: int = 2
) -> float:
    """Until the killed process has a running successor and the app answers healthy; returns when
    (``time.monotonic()``)."""
    from ray import serve

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if fault == "host":
                    pid = int(await asyncio.wait_for((await host_actor(1)).pid.remote(), 5))
                    running = pid != killed
                else:
                    pids = await replica_pids(DEPLOYMENTS[fault], app)
                    target = ingress_replicas if fault == "ingress" else 1
                    running = killed not in pids.values() and len(pids) >= target
                app_ok = serve.status().applications[app].status == "RUNNING"
                if running and app_ok and (await http.get(url + "/healthz")).status_code == 200:
                    return time.monotonic()
            await asyncio.sleep(0.25)
    raise AssertionError(f"{fault}: the killed process {killed} was not replaced within {timeout_s:g} s")


# --------------------------------------------------------------------------- one fault


async def run_fault(
    fault: str, url: str, shared_data: Path, *, api_key: str, hosts: int = 2, app: str = APP, ingress_replicas: int = 2
) -> FaultRun:
    """Stream the clips in real time, kill ``fault``'s process at its point, finish, read the store.
    ``app``: the Serve application at ``url``, with ``ingress_replicas`` (the shared app by default)."""
    if fault not in FAULTS:
        raise ValueError(f"fault {fault!r}: one of {', '.join(FAULTS)}")
    pcm, references = speech(shared_data)
    session_id = session_on_host(1, hosts) if fault == "host" else uuid.uuid4().hex
    client = SttClient(url, api_key=api_key, resume=POLICY)
    events: list[ResumeEvent] = []
    killed_at: float | None = None
    run: FaultRun | None = None

    def note(event: ResumeEvent) -> None:
        events.append(event)
        if run is not None and event.kind == "resumed" and killed_at is not None and run.resumed_after is None:
            run.resumed_after = time.monotonic() - killed_at

    replaced: asyncio.Task[float] | None = None
    async with client.stream(session_id=session_id, on_resume=note) as stream:
        pid = await _victim(fault, stream.replicas["control"], app)
        run = FaultRun(fault, stream.session_id, references, pid, events=events)

        async def send() -> None:
            await stream.send_pcm(pcm, realtime=True)
            await stream.stop()

        sender = asyncio.create_task(send())
        ended: dict[int, float] = {}  # utterance_end arrivals
        try:
            async for msg in stream:
                now = time.monotonic()
                if isinstance(msg, p.Error):
                    run.errors.append(msg)
                elif isinstance(msg, p.UtteranceEnd):
                    ended[msg.utterance_id] = now
                elif isinstance(msg, p.PartialResult):
                    if killed_at is None:
                        run.partials_before += 1
                    elif run.first_partial_after is None and now - killed_at > 0.25:
                        run.first_partial_after = now - killed_at  # (an answer already on its way is not one)
                elif isinstance(msg, p.FinalResult) and killed_at is not None and run.first_final_after is None:
                    run.first_final_after = now - killed_at
                    if msg.utterance_id in ended:
                        run.first_final_delay = now - max(ended[msg.utterance_id], killed_at)
                if killed_at is None and _due(fault, msg):
                    os.kill(pid, signal.SIGKILL)
                    killed_at = time.monotonic()
                    replaced = asyncio.create_task(
                        wait_replaced(fault, pid, url, app=app, ingress_replicas=ingress_replicas)
                    )
            await sender
        finally:
            sender.cancel()
        run.finals = list(stream.finals)
    assert killed_at is not None and replaced is not None, f"{fault}: the stream never reached the fault's point"
    run.replaced_after = await replaced - killed_at
    run.stored = list(json.loads(await client.transcript(run.session_id, "json"))["finals"])
    return run


async def _victim(fault: str, control_replica: str | None, app: str) -> int:
    if fault == "host":
        return int(await (await host_actor(1)).pid.remote())
    pids = await replica_pids(DEPLOYMENTS[fault], app)
    if fault == "ingress":
        if control_replica not in pids:
            raise AssertionError(f"the control socket's replica {control_replica} is not among {sorted(pids)}")
        return pids[control_replica]
    (pid,) = pids.values()
    return pid


def _due(fault: str, msg: p.ServerMessage) -> bool:
    if fault == "main":
        return isinstance(msg, p.SpeechStarted) and msg.utterance_id == 2
    return isinstance(msg, p.PartialResult) and msg.utterance_id == 2
