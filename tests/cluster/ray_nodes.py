"""Ray nodes in the hosts of a :class:`tests.cluster.netns.Lan`: ``ray start`` inside each host's
namespace, ``serve deploy`` from the root namespace, and what Serve's REST API says.

Each node has its own temp dir under ``/tmp/rtstt-cl<pid>/`` (a killed run's are removed by the
next, :func:`reap_stale_dirs`) and default ports (each namespace has
its own port space, so other Ray instances on the machine are never touched); a node is stopped
by killing the processes of its namespace, never with ``ray stop`` (which stops every Ray process
of the user).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cluster.netns import Host

BIN = Path(sys.executable).parent
GCS_PORT = 6379
DASHBOARD_PORT = 8265
SERVE_PORT = 8000
#: plasma store per node: the app passes small objects only (Ray's minimum is 75 MB)
OBJECT_STORE_BYTES = 100 * 1024 * 1024


def node_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without its Ray settings (RAY_ADDRESS, RAY_TMPDIR …), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        HF_HUB_OFFLINE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str], timeout_s: float) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        out = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(argv[:6])} … failed ({done.returncode}):\n{out}")


@dataclass
class RayCluster:
    """A head and workers, each in its own host namespace; ``env`` goes to every node."""

    env: dict[str, str]
    root: Path = field(default_factory=lambda: Path(f"/tmp/rtstt-cl{os.getpid()}"))
    nodes: dict[str, Host] = field(default_factory=dict)
    head: Host | None = None

    def temp_dir(self, host: Host) -> Path:
        path = self.root / host.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _start(
        self, host: Host, args: list[str], resources: dict[str, float], num_cpus: int, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        argv = host.command(
            str(BIN / "ray"),
            "start",
            *args,
            "--node-ip-address",
            host.address,
            "--num-cpus",
            str(num_cpus),
            "--resources",
            json.dumps(resources),
            "--temp-dir",
            str(self.temp_dir(host)),
            "--object-store-memory",
            str(OBJECT_STORE_BYTES),
            "--disable-usage-stats",
        )
        self.nodes[host.name] = host
        # a file, not a pipe: the daemons ray start leaves behind would hold a pipe open
        with open(self.root / f"{host.name}-start.log", "w") as out:
            return subprocess.Popen(argv, env=node_env({**self.env, **env}), stdout=out, stderr=subprocess.STDOUT)

    def start_head(
        self, host: Host, resources: dict[str, float], num_cpus: int = 2, env: dict[str, str] | None = None
    ) -> None:
        """The head; ``env`` adds to its environment only (the GCS reads its settings there)."""
        args = [
            "--head",
            "--port",
            str(GCS_PORT),
            "--include-dashboard",
            "true",
            "--dashboard-host",
            "0.0.0.0",
            "--dashboard-port",
            str(DASHBOARD_PORT),
        ]
        self.head = host
        self._wait_started(self._start(host, args, resources, num_cpus, env or {}), host, timeout_s=180)

    def start_workers(self, hosts: list[Host], resources: dict[str, float], num_cpus: int = 2) -> None:
        assert self.head is not None
        args = ["--address", f"{self.head.address}:{GCS_PORT}"]
        started = [(self._start(h, args, resources, num_cpus, {}), h) for h in hosts]
        for proc, host in started:
            self._wait_started(proc, host, timeout_s=180)
        self.wait_nodes(1 + len(hosts), timeout_s=60)

    def _wait_started(self, proc: subprocess.Popen[bytes], host: Host, timeout_s: float) -> None:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode != 0:
            out = (self.root / f"{host.name}-start.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"ray start on {host.name} ({host.address}) failed ({proc.returncode}):\n{out}")

    @property
    def dashboard(self) -> str:
        assert self.head is not None
        return f"http://{self.head.address}:{DASHBOARD_PORT}"

    def alive_nodes(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.dashboard}/api/v0/nodes", params={"limit": 100}, timeout=10)
        reply.raise_for_status()
        rows = reply.json()["data"]["result"]["result"]
        return [r for r in rows if r.get("state") == "ALIVE"]

    def wait_nodes(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(alive := self.alive_nodes()) != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(alive)} Ray nodes alive, expected {count}: {alive}")
            time.sleep(1)

    def serve_deploy(self, config: Path) -> None:
        argv = [str(BIN / "serve"), "deploy", "--address", self.dashboard, str(config)]
        _run(argv, node_env(self.env), timeout_s=120)

    def serve_details(self) -> dict[str, Any]:
        reply = httpx.get(f"{self.dashboard}/api/serve/applications/", timeout=10)
        reply.raise_for_status()
        details: dict[str, Any] = reply.json()
        return details

    def wait_running(self, app: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        status = "?"
        while time.monotonic() < deadline:
            details = self.serve_details()
            status = details.get("applications", {}).get(app, {}).get("status", "NOT_STARTED")
            if status == "RUNNING":
                return details
            if status == "DEPLOY_FAILED":
                raise RuntimeError(f"serve deploy failed: {json.dumps(details)[:3000]}\n{self.log_tail()}")
            time.sleep(2)
        raise RuntimeError(f"app {app} not RUNNING after {timeout_s} s: {status}\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of every node's Serve logs and raylet errors, for a failure's message."""
        parts = []
        for log in sorted(self.root.glob("*/session_latest/logs/serve/*.log")) + sorted(
            self.root.glob("*/session_latest/logs/raylet.err")
        ):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            if any("Error" in t or "Traceback" in t for t in text):
                parts.append(f"--- {log}\n" + "\n".join(text))
        return "\n".join(parts)[-20000:]

    def keep_logs(self, folder: Path) -> None:
        for name in self.nodes:
            logs = self.root / name / "session_latest" / "logs"
            if logs.is_dir():
                shutil.copytree(logs, folder / name, dirs_exist_ok=True)

    def remove_files(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def reap_stale_dirs() -> list[Path]:
    """Remove the temp dirs of runs whose process is gone (their nodes went with their namespaces)."""
    removed = []
    for folder in Path("/tmp").glob("rtstt-cl[0-9]*"):
        pid = folder.name.removeprefix("rtstt-cl")
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def replicas(details: dict[str, Any], app: str, deployment: str) -> list[dict[str, Any]]:
    """The RUNNING replicas of one deployment, from :meth:`RayCluster.serve_details`."""
    rows = details["applications"][app]["deployments"][deployment].get("replicas", [])
    return [r for r in rows if r.get("state") == "RUNNING"]
