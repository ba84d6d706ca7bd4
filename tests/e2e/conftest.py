"""One real local Ray + Serve for the whole e2e suite (DESIGN.md §7's fixture)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

API_KEYS = {"key-a": "client-a", "key-b": "client-b"}
JWT_SECRET = "e2e-secret-" + "x" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


APP_ARGS: dict[str, Any] = {
    "session_hosts": 2,
    "ingress_replicas": 2,
    "settings": {
        "realtime_model": {"model": "tiny.en", "window": "trimmed", "num_workers": 2, "cpu_threads": 1},
        "main_model": {"model": "tiny.en", "window": "trimmed", "num_workers": 2, "cpu_threads": 1},
        "limits": {"max_sessions_per_client": 4, "max_realtime_factor": 4.0},
        "auth": {"api_keys": API_KEYS, "jwt_secret": JWT_SECRET},
    },
}


@pytest.fixture(scope="session")
def serve_url() -> Iterator[str]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import serve

    from deployments.app import build_app

    port = _free_port()
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        namespace="rtstt-e2e",
        _temp_dir=os.environ.get("RAY_TMPDIR", "/tmp/rtstt-ray"),
        log_to_driver=False,
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(APP_ARGS), name="stt", route_prefix="/", blocking=False)
        _wait_ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def _wait_ready(url: str) -> None:
    import httpx
    from ray import serve

    # serve.run(blocking=False) returns when the app is deployed; check the route answers
    status = serve.status().applications["stt"].status
    assert status == "RUNNING", f"app not running: {status}"
    response = httpx.get(url + "/healthz", timeout=30)
    assert response.status_code == 200, response.text
