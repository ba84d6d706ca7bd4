"""The real local Ray + Serve app the e2e and browser suites share (docs/architecture.md §5).


One instance per pytest run: the ``serve_url`` fixture in ``tests/conftest.py`` is the only
caller, so both suites talk to the same Ray. :func:`running_app` is also usable by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

from app.config import main_model_defaults

API_KEYS = {"key-a": "client-a", "key-b": "client-b", "key-c": "client-c"}
#: the app's capacity (limits.max_streams): the admission test fills it
MAX_STREAMS = 8
MAIN_MODEL = main_model_defaults().model_dump(exclude={"num_workers", "cpu_threads"})
JWT_SECRET = "e2e-secret-" + "x" * 32

APP_ARGS: dict[str, Any] = {
    "session_hosts": 2,
    "ingress_replicas": 2,
    "settings": {
        "realtime_model": {"model": "tiny.en", "window": "trimmed", "num_workers": 2, "cpu_threads": 1},
        # as serve_config.yaml: Whisper base for finals (multilingual), with its decode settings
        "main_model": {**MAIN_MODEL, "num_workers": 2, "cpu_threads": 1},
        "limits": {"max_sessions_per_client": 4, "max_realtime_factor": 4.0, "max_streams": MAX_STREAMS},
        "auth": {"api_keys": API_KEYS, "jwt_secret": JWT_SECRET},
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_app(port: int | None = None) -> Iterator[str]:
    """Start Ray, Serve and the app on ``port`` (a free one by default); yield its base URL; stop them."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import serve

    from deployments.app import build_app

    port = port or free_port()
    data_dir = tempfile.mkdtemp(prefix="rtstt-e2e-data-")  # the app's transcript store (SQLite)
    args = {**APP_ARGS, "settings": {**APP_ARGS["settings"], "store": {"data_dir": data_dir}}}
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
        serve.run(build_app(args), name="stt", route_prefix="/", blocking=False)
        _wait_ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)


#: the second application's args: sessions hosted in its one ingress replica (serve_config.yaml's layout)
IN_INGRESS_ARGS: dict[str, Any] = {
    **{k: v for k, v in APP_ARGS.items() if k not in ("session_hosts", "ingress_replicas")},
    "hosts_in_ingress": True,
}


@contextlib.contextmanager
def second_app(base_url: str, name: str, args: dict[str, Any]) -> Iterator[str]:
    """Deploy ``build_app(args)`` as the application ``name`` at ``/<name>`` beside the shared app (in
    the same Ray and Serve: call it after :func:`running_app`); yield its base URL; delete it."""
    from ray import serve

    from deployments.app import build_app

    data_dir = tempfile.mkdtemp(prefix=f"rtstt-e2e-{name}-")
    args = {**args, "settings": {**args["settings"], "store": {"data_dir": data_dir}}}
    try:
        serve.run(build_app(args), name=name, route_prefix=f"/{name}", blocking=False)
        _wait_ready(f"{base_url}/{name}", name)
        yield f"{base_url}/{name}"
    finally:
        serve.delete(name)
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_ready(url: str, name: str = "stt") -> None:
    import httpx
    from ray import serve

    # serve.run(blocking=False) returns when the app is deployed; check the route answers
    status = serve.status().applications[name].status
    if status != "RUNNING":
        raise RuntimeError(f"app not running: {status}")
    response = httpx.get(url + "/healthz", timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"/healthz answered {response.status_code}: {response.text}")
