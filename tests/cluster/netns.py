"""Separate hosts on one machine: Linux network namespaces on one bridge (iproute2, as root).

:class:`Lan` makes a namespace holding a bridge (the "switch"), joins this (the root) namespace
to it with a veth pair whose root end gets the subnet's first address, and adds a namespace per
host, each joined by its own veth pair and given the next address. Hosts reach each other and
the root namespace (where the test runs) through the bridge; there is no
default route and no forwarding, so no traffic leaves the subnet. Everything it makes carries a
name with the creating process's id (``rtstt-c<pid>-…``, root end ``rtc<pid>``): :meth:`Lan.close`
kills every process inside its namespaces and deletes them (which deletes their veth pairs), and
:func:`reap_orphans` removes what a run killed before its clean-up left behind (its creator gone).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "rtstt-c"
#: subnets tried in turn: the first that no route of this machine overlaps
CANDIDATES = [ipaddress.ip_network(f"10.213.{i}.0/24") for i in range(0, 256, 7)]


class NetnsUnavailable(RuntimeError):
    """No root, no iproute2, or the kernel refuses network namespaces."""


def ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()[:500]}")
    return done.stdout


def check_available() -> None:
    """Raise :class:`NetnsUnavailable` with the reason unless namespaces can be made here."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("the cluster test makes network namespaces: it must run as root")
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
    except FileNotFoundError as exc:
        raise NetnsUnavailable("iproute2's `ip` is not installed (apt-get install -y iproute2)") from exc
    except RuntimeError as exc:
        raise NetnsUnavailable(f"cannot make a network namespace: {exc}") from exc
    try:
        ip("-n", probe, "link", "add", "br0", "type", "bridge")
    except RuntimeError as exc:
        raise NetnsUnavailable(f"cannot make a bridge in a network namespace: {exc}") from exc
    finally:
        ip("netns", "del", probe, check=False)


def namespace_pids(ns: str) -> list[int]:
    return [int(p) for p in ip("netns", "pids", ns, check=False).split()]


def kill_namespace(ns: str, timeout_s: float = 20.0) -> None:
    """SIGKILL every process in ``ns`` until none is left (a dying raylet may still fork)."""
    deadline = time.monotonic() + timeout_s
    while pids := namespace_pids(ns):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes in {ns} survive SIGKILL: {pids}")
        time.sleep(0.2)


def _our_namespaces(owner: int | None = None) -> list[str]:
    names = [line.split()[0] for line in ip("netns", "list", check=False).splitlines() if line.strip()]
    pattern = re.compile(rf"^{PREFIX}(\d+)-")
    found = []
    for name in names:
        m = pattern.match(name)
        if m and (owner is None or int(m.group(1)) == owner):
            found.append(name)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> list[str]:
    """Remove the namespaces (their processes first) of runs whose process is gone; their names."""
    removed = []
    for ns in _our_namespaces():
        owner = int(re.match(rf"^{PREFIX}(\d+)-", ns).group(1))  # type: ignore[union-attr]
        if owner != os.getpid() and not _alive(owner):
            kill_namespace(ns)
            ip("netns", "del", ns, check=False)
            # the kernel destroys a deleted namespace's links later, in the background
            ip("link", "del", f"rtc{owner}"[:15], check=False)
            removed.append(ns)
    return removed


def _free_subnet() -> ipaddress.IPv4Network:
    routes = json.loads(ip("-j", "-4", "route", "show", "table", "all") or "[]")
    taken = []
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                taken.append(ipaddress.ip_network(dst, strict=False))
    for candidate in CANDIDATES:
        if not any(candidate.overlaps(t) for t in taken if t.version == 4):
            return candidate  # type: ignore[return-value]
    raise RuntimeError("no free 10.213.x.0/24 subnet for the cluster test")


@dataclass(frozen=True)
class Host:
    name: str
    ns: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.ns, *argv]


class Lan:
    """A bridge, the root namespace on it (``gateway``) and hosts added with :meth:`add_host`."""

    def __init__(self) -> None:
        self.tag = f"{PREFIX}{os.getpid()}"
        self.switch = f"{self.tag}-lan"
        self.root_link = f"rtc{os.getpid()}"[:15]
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self.subnet = _free_subnet()
        addresses = self.subnet.hosts()
        self.gateway = str(next(addresses))
        self._addresses = addresses

    def __enter__(self) -> Lan:
        try:
            self._add_namespace(self.switch)
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "br0", "up")
            ip("link", "add", self.root_link, "type", "veth", "peer", "name", "up0", "netns", self.switch)
            ip("-n", self.switch, "link", "set", "up0", "master", "br0", "up")
            ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.root_link)
            ip("link", "set", self.root_link, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_namespace(self, ns: str) -> None:
        ip("netns", "add", ns)
        self._namespaces.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")

    def add_host(self, name: str) -> Host:
        host = Host(name, f"{self.tag}-{name}", str(next(self._addresses)))
        self._add_namespace(host.ns)
        port = f"p-{name}"[:15]
        ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.ns)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", host.ns, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0")
        ip("-n", host.ns, "link", "set", "eth0", "up")
        self.hosts[name] = host
        return host

    def take_down(self, name: str) -> None:
        """The host goes away as a machine that lost power: its link first (its peers hear nothing
        more from it: no FIN, no RST), then its processes, then its namespace."""
        host = self.hosts[name]
        ip("-n", self.switch, "link", "del", f"p-{name}"[:15])
        kill_namespace(host.ns)
        ip("netns", "del", host.ns, check=False)
        self._namespaces.remove(host.ns)

    def close(self) -> None:
        """Kill every process in our namespaces, delete them and the root end; safe to call again."""
        errors = []
        for ns in reversed(self._namespaces):
            try:
                kill_namespace(ns)
            except RuntimeError as exc:
                errors.append(str(exc))
            ip("netns", "del", ns, check=False)
        self._namespaces.clear()
        # deleting the switch's namespace deletes the pair; this only matters if that failed
        ip("link", "del", self.root_link, check=False)
        leftovers = _our_namespaces(os.getpid())
        if errors or leftovers:
            raise RuntimeError(f"cluster network clean-up incomplete: {errors} {leftovers}")
