"""CPU time and memory of the Ray / Serve processes on this machine, sampled with psutil.

A process counts when its name or command line holds one of ``MARKERS``: Ray's workers and actors
(``ray::…``, whose title names the Serve replica, controller or proxy), ``raylet``, ``gcs_server``,
and Ray's helper processes started from its package (log monitor, agents). The benchmark's own
process is left out: it is the client.

With ``root_pid`` (``--start-app``) only that process's descendants count, so another Ray on the same
machine stays out. CPU is user + system time, the delta between the first and the last time each process is seen
(a process that starts during the run counts from zero). Memory is sampled every ``interval_s``:
the peak of the sum of RSS over the processes, and of PSS where the kernel gives it (shared pages
split between the processes that map them, so the sum does not count Ray's shared libraries and
object store once per worker). Beside them: the benchmark client's own CPU time, and how many cores
the whole machine kept busy (if that is all of them, the CPU is the limit).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psutil

MARKERS = ("ray::", "raylet", "gcs_server", "site-packages/ray/")
_REPLICA = re.compile(r"ray::ServeReplica:[^:]+:(\w+)")


@dataclass
class _Seen:
    label: str
    first_cpu: float
    last_cpu: float


@dataclass
class ProcessSampler:
    """``root_pid``: count only that process's descendants (the Ray this benchmark started), not every Ray
    process on the machine. RSS is read every sample (cheap), PSS every ``pss_every`` samples: reading
    it walks each process's page tables (~5 ms a process), too dear to do twice a second on two cores."""

    root_pid: int | None = None
    interval_s: float = 0.5
    pss_every: int = 4
    _seen: dict[int, _Seen] = field(default_factory=dict)
    _peak_rss: int = 0
    _peak_pss: int | None = None
    _samples: int = 0
    _started_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _procs: dict[int, psutil.Process | None] = field(default_factory=dict)  # None: not a Ray process
    _machine: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, busy CPU seconds)
    _client: list[float] = field(default_factory=list)  # this process's CPU seconds

    def __enter__(self) -> ProcessSampler:
        self._started_at = time.time()
        self._mark()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._loop, name="bench-procs", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._mark()

    def _mark(self) -> None:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)  # already in user
        self._machine.append((time.monotonic(), total - idle))
        own = psutil.Process().cpu_times()
        self._client.append(own.user + own.system)

    def result(self) -> dict[str, Any]:
        by_label: dict[str, float] = defaultdict(float)
        for seen in self._seen.values():
            by_label[seen.label] += seen.last_cpu - seen.first_cpu
        cpu_s = sum(by_label.values())
        wall_s = self._machine[-1][0] - self._machine[0][0] if len(self._machine) == 2 else None
        client = self._client[-1] - self._client[0] if len(self._client) == 2 else None
        busy = (self._machine[-1][1] - self._machine[0][1]) / wall_s if wall_s else None
        other = busy - (cpu_s + (client or 0.0)) / wall_s if busy is not None and wall_s else None
        return {
            "scope": "descendants of the benchmark" if self.root_pid else "every Ray process on this machine",
            "processes": len(self._seen),
            "cpu_s": round(cpu_s, 3),
            "cpu_s_by_process": {k: round(v, 3) for k, v in sorted(by_label.items(), key=lambda kv: -kv[1])},
            "client_cpu_s": None if client is None else round(client, 3),
            # cores the whole machine kept busy; "other" is what neither the service nor the client used
            "machine_busy_cores": None if busy is None else round(busy, 2),
            "other_busy_cores": None if other is None else round(max(other, 0.0), 2),
            "peak_rss_mb": round(self._peak_rss / 2**20, 1),
            "peak_pss_mb": None if self._peak_pss is None else round(self._peak_pss / 2**20, 1),
            "samples": self._samples,
        }

    def memory_by_process(self) -> dict[str, dict[str, float]]:
        """RSS and PSS (MB) now, summed by process label (``Diarizer``, ``raylet`` …), largest first, with
        how many of the processes run on jemalloc (:func:`malloc_of`)."""
        out: dict[str, dict[str, float]] = defaultdict(
            lambda: {"processes": 0, "jemalloc": 0, "rss_mb": 0.0, "pss_mb": 0.0}
        )
        for proc in self._matching():
            try:
                with proc.oneshot():
                    info = proc.memory_full_info()
                    row = out[_label(proc)]
                    row["processes"] += 1
                    row["jemalloc"] += malloc_of(proc.pid) == "jemalloc"
                    row["rss_mb"] += info.rss / 2**20
                    row["pss_mb"] += getattr(info, "pss", 0) / 2**20
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        rounded = {k: {f: round(v, 1) for f, v in row.items()} for k, row in out.items()}
        return dict(sorted(rounded.items(), key=lambda kv: -kv[1]["pss_mb"]))

    def memory_per_process(self) -> list[dict[str, Any]]:
        """RSS and PSS (MB) of each process now: ``pid``, ``label``, ``rss_mb``, ``pss_mb`` (``None`` where the
        kernel does not give it), ``malloc`` (``jemalloc`` where the process maps it, else ``libc``), by
        label then pid. Used by the soak (``scripts/soak.py``)."""
        rows: list[dict[str, Any]] = []
        for proc in self._matching():
            try:
                with proc.oneshot():
                    info = proc.memory_full_info()
                    pss = getattr(info, "pss", None)
                    rows.append(
                        {
                            "pid": proc.pid,
                            "label": _label(proc),
                            "rss_mb": round(info.rss / 2**20, 1),
                            "pss_mb": None if pss is None else round(pss / 2**20, 1),
                            "malloc": malloc_of(proc.pid),
                        }
                    )
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return sorted(rows, key=lambda r: (r["label"], r["pid"]))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self, *, first: bool = False) -> None:
        with_pss = self._samples % self.pss_every == 0
        rss = 0
        pss: int | None = 0
        for proc in self._matching():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu = times.user + times.system
                    rss += proc.memory_info().rss
                    if with_pss and pss is not None:
                        one: int | None = getattr(proc.memory_full_info(), "pss", None)
                        pss = None if one is None else pss + one
                    seen = self._seen.get(proc.pid)
                    if seen is None:
                        new = not first and proc.create_time() >= self._started_at
                        self._seen[proc.pid] = _Seen(_label(proc), 0.0 if new else cpu, cpu)
                    else:
                        seen.last_cpu = cpu
                        if with_pss:
                            seen.label = _label(proc)  # an idle worker takes an actor's title later
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except psutil.AccessDenied:
                pss = None
        self._samples += 1
        self._peak_rss = max(self._peak_rss, rss)
        if with_pss and pss is not None:
            self._peak_pss = max(self._peak_pss or 0, pss)

    def _matching(self) -> list[psutil.Process]:
        me = os.getpid()
        pids = self._tree() if self.root_pid is not None else psutil.pids()
        found: list[psutil.Process] = []
        for pid in pids:
            if pid == me:
                continue
            if pid not in self._procs:
                try:
                    proc = psutil.Process(pid)
                    self._procs[pid] = proc if _is_ray(proc) else None
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            if (known := self._procs[pid]) is not None:
                found.append(known)
        return found

    def _tree(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.root_pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def malloc_of(pid: int) -> str:
    """``jemalloc`` where the process maps libjemalloc (``serve_config.yaml`` preloads it into the
    application's replicas), else ``libc``."""
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return "jemalloc" if any("libjemalloc" in line for line in maps) else "libc"
    except OSError:
        return "libc"


def _is_ray(proc: psutil.Process) -> bool:
    text = proc.name() + " " + " ".join(proc.cmdline())
    return any(marker in text for marker in MARKERS)


def _label(proc: psutil.Process) -> str:
    """A short stable name: the Serve deployment, the actor class, or the executable."""
    cmd = " ".join(proc.cmdline()) or proc.name()
    if match := _REPLICA.search(cmd):
        return match.group(1)
    if cmd.startswith("ray::"):
        return cmd.split()[0].split(".")[0]  # the actor, not the method it runs now
    for marker in ("raylet", "gcs_server"):
        if marker in cmd:
            return marker
    script: str = next((part for part in proc.cmdline() if part.endswith(".py")), proc.name())
    return os.path.basename(script)
