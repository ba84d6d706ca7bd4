"""The cluster test's network: hosts reach each other and the root namespace over the bridge,
and a run killed before its clean-up leaves nothing the next run does not remove."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from tests.cluster.netns import (
    PREFIX,
    Host,
    Lan,
    NetnsUnavailable,
    check_available,
    ip,
    namespace_pids,
    reap_orphans,
)

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def _namespaces_allowed() -> Iterator[None]:
    try:
        check_available()
    except NetnsUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield


def _connects(host: Host | None, address: str, port: int) -> bool:
    """Whether a TCP connection from ``host`` (None: the root namespace) to ``address:port`` opens."""
    probe = [sys.executable, "-c", f"import socket; socket.create_connection(({address!r}, {port}), 2)"]
    done = subprocess.run(host.command(*probe) if host else probe, capture_output=True, check=False, timeout=30)
    return done.returncode == 0


def _listen(host: Host | None, address: str, port: int) -> subprocess.Popen[bytes]:
    server = [sys.executable, "-m", "http.server", "--bind", address, str(port)]
    proc = subprocess.Popen(host.command(*server) if host else server, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return proc


def test_hosts_reach_each_other_and_the_root_namespace() -> None:
    with Lan() as lan:
        a, b = lan.add_host("a"), lan.add_host("b")
        servers = [_listen(b, b.address, 8000), _listen(None, lan.gateway, 18000 + os.getpid() % 1000)]
        try:
            assert _connects(a, b.address, 8000)  # host to host
            assert _connects(None, b.address, 8000)  # the test to a host
            assert _connects(a, lan.gateway, 18000 + os.getpid() % 1000)  # a host to the root namespace
            assert not _connects(a, "192.0.2.1", 80)  # nothing beyond the subnet
        finally:
            for server in servers:
                server.kill()
                server.wait()
        names = set(ip("netns", "list").split())
        assert {a.ns, b.ns, lan.switch} <= names
    assert not [ns for ns in ip("netns", "list").split() if ns.startswith(f"{PREFIX}{os.getpid()}-")]
    assert lan.root_link not in ip("link", "show")


def test_a_killed_run_is_cleaned_up_by_the_next() -> None:
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        from tests.cluster.netns import Lan
        lan = Lan().__enter__()
        host = lan.add_host("n")
        subprocess.Popen(host.command("sleep", "600"))
        print(host.ns, lan.root_link, flush=True)
        time.sleep(600)
        """
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    assert run.stdout is not None
    ns, root_link = run.stdout.readline().split()
    deadline = time.monotonic() + 10
    while not namespace_pids(ns) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert namespace_pids(ns), "the sleeper did not start in its namespace"
    run.send_signal(signal.SIGKILL)  # no clean-up at all
    run.wait()
    run.stdout.close()
    removed = reap_orphans()
    assert ns in removed
    assert ns not in ip("netns", "list")
    assert root_link not in ip("link", "show")  # went with the switch's namespace
