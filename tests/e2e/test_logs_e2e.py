"""Logs stay useful under attack, through the real stack: Ray Serve logs every exception a request
raises, with its traceback ("Request failed."), so a session host must not raise for a client's bad
input: a client sending hundreds of bad commands to sessions on either kind of host (the pool's Serve
replica, host 0, and a host actor) gets an error for each and leaves no traceback in Ray's logs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets

from app import protocol as p
from tests.faults import session_on_host

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": "Bearer key-a"}
N = 100
BAD = ("{not json", '{"type": "start_stream"}', '{"type": "nonsense"}', '{"type": "configure", "options": 1}')


def logs_dir() -> Path:
    import ray

    return Path(ray._private.worker._global_node.get_logs_dir_path())


def failures_logged() -> int:
    """Tracebacks and Serve's failed-request lines in every log file of this Ray session."""
    total = 0
    for path in logs_dir().rglob("*"):
        if path.is_file() and path.suffix in (".log", ".err", ".out"):
            text = path.read_text(errors="ignore")
            total += text.count("Traceback") + text.count("Request failed")
    return total


async def test_bad_commands_leave_no_traceback_per_message(serve_url: str) -> None:
    # the pool replica (host 0) writes its Serve log here: the place a traceback per request would go
    assert list(logs_dir().glob("serve/replica_stt_SessionHostPool_*.log"))
    before = failures_logged()
    for host in (0, 1):
        sid = session_on_host(host, 2)
        url = serve_url.replace("http://", "ws://") + f"/v1/stream/control?session_id={sid}"
        async with websockets.connect(url, additional_headers=HEADERS) as ws:
            await ws.send(json.dumps({"type": "start_stream"}))
            assert isinstance(p.parse_server_message(await ws.recv()), p.SessionStarted)
            for bad in BAD:
                for _ in range(N):
                    await ws.send(bad)
                codes = {p.parse_server_message(await ws.recv()).code for _ in range(N)}  # type: ignore[union-attr]
                assert codes <= {"invalid_message", "invalid_state", "unknown_command"} and len(codes) == 1
            await ws.send(json.dumps({"type": "stop_stream"}))
            async for _ in ws:
                pass
            assert ws.close_code == 1000
    await asyncio.sleep(1.0)  # the replicas' log handlers write as they go; leave them a moment
    assert failures_logged() - before <= 3  # (sampled server faults: none expected here)
