"""A local Ray + Serve running the application of ``serve_config.yaml``, in this process.

Like the e2e fixture (``tests/serve_app.py``, docs/architecture.md §5): ``ray.init(address="local")`` with
Ray's token auth off and Serve's HTTP proxy on a free port; then the config itself is deployed, as
``serve run serve_config.yaml`` does (its ``deployments:`` overrides applied: replicas, autoscaling,
user configs). Three things differ from the config, all recorded in the results: the benchmark's API
key is added to ``settings.auth.api_keys``, ``max_sessions_per_client`` is raised to the largest
round's session count, and the store is a fresh folder of its own.
"""

from __future__ import annotations

import copy
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import ROOT

DEFAULT_CONFIG = ROOT / "serve_config.yaml"
APP_NAME = "stt"
CLIENT_ID = "bench"


@dataclass
class LocalApp:
    url: str
    args: dict[str, Any]
    config: Path

    def describe(self) -> dict[str, Any]:
        config = self.config.resolve()
        shown = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
        return {"config": str(shown), "args": _redacted(self.args)}


def app_spec(
    config: Path, api_key: str, max_sessions: int, data_dir: str, max_streams: int | None = None
) -> dict[str, Any]:
    """The config's first application, with the benchmark's key, session limit and store folder (and
    ``max_streams`` instead of the config's, when given)."""
    spec: dict[str, Any] = yaml.safe_load(config.read_text())
    apps = spec.get("applications") or []
    if not apps:
        raise SystemExit(f"{config}: no application")
    app = copy.deepcopy(apps[0])
    app["args"] = app_args(app, api_key, max_sessions)
    app["args"].setdefault("settings", {}).setdefault("store", {})["data_dir"] = data_dir
    if max_streams is not None:
        app["args"]["settings"].setdefault("limits", {})["max_streams"] = max_streams
    app["name"], app["route_prefix"] = APP_NAME, "/"
    return app


def app_args(app: dict[str, Any], api_key: str, max_sessions: int) -> dict[str, Any]:
    args: dict[str, Any] = copy.deepcopy(app.get("args") or {})
    settings = args.setdefault("settings", {})
    auth = settings.setdefault("auth", {})
    auth.setdefault("api_keys", {})[api_key] = CLIENT_ID
    limits = settings.setdefault("limits", {})
    limits["max_sessions_per_client"] = max(int(limits.get("max_sessions_per_client", 10)), max_sessions)
    return args


def start(config: Path, api_key: str, max_sessions: int, *, max_streams: int | None = None) -> LocalApp:
    os.environ["RAY_AUTH_MODE"] = "disabled"  # Ray turns token auth on after a local init (docs/architecture.md §5)
    import ray
    from ray.serve._private import api as serve_api  # what `serve run CONFIG` calls
    from ray.serve._private.constants import SERVE_NAMESPACE
    from ray.serve.schema import ServeDeploySchema

    app = app_spec(config, api_key, max_sessions, tempfile.mkdtemp(prefix="rtstt-bench-data-"), max_streams)
    port = _free_port()
    ray.init(
        address="local",
        num_cpus=len(os.sched_getaffinity(0)),  # the cores this process may use (taskset, cgroups)
        include_dashboard=False,
        namespace=SERVE_NAMESPACE,
        _temp_dir=os.environ.get("RAY_TMPDIR", "/tmp/rtstt-ray"),
        log_to_driver=False,
    )
    client = serve_api.serve_start(http_options={"host": "127.0.0.1", "port": port})
    client.deploy_apps(ServeDeploySchema.model_validate({"applications": [app]}), _blocking=False)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url)
    return LocalApp(url, app["args"], config)


def stop() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()
    finally:
        ray.shutdown()


def _wait_ready(url: str, timeout_s: float = 180.0) -> None:
    from ray import serve

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        status = serve.status().applications.get(APP_NAME)
        if status is None or status.status != "RUNNING":
            last = f"application {status.status if status else 'not deployed'}"
            if status is not None and status.status == "DEPLOY_FAILED":
                raise SystemExit(f"the application failed to deploy: {status.message}")
            time.sleep(0.5)
            continue
        try:
            response = httpx.get(url + "/healthz", timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise SystemExit(f"{url}/healthz not ready within {timeout_s:.0f} s: {last}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redacted(args: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(args)
    auth = out.get("settings", {}).get("auth", {})
    if "api_keys" in auth:
        auth["api_keys"] = {f"<key {i}>": owner for i, owner in enumerate(auth["api_keys"].values())}
    return out
