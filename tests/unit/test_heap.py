"""Native-memory guards (app/heap.py, app/engines/memory.py): an engine's heap is trimmed once it is
idle, never under a call, at most every interval; a host's every interval; a trim gives freed memory
back under glibc and under the jemalloc that serve_config.yaml preloads; oneDNN's cache setting
defers to the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from app.engines.memory import PRIMITIVE_CACHE_ENV, limit_primitive_cache
from app.heap import MALLOC_TRIM, HeapTrimmer, PeriodicTrim


class Trims:
    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()


def test_an_engine_that_falls_idle_is_trimmed_once() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=60.0, delay_s=0.01, trim=trims)
    for _ in range(3):
        with heap.call():
            pass
    assert trims.event.wait(5.0)
    assert not _another(trims, wait_s=0.2)  # idle since: nothing more to give back
    assert trims.count == 1 and heap.trims == 1


def test_no_trim_while_a_call_is_in_flight() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=0.0, delay_s=0.01, trim=trims)
    with heap.call():
        inner = heap.call()
        inner.__enter__()
    # one call still runs: the first call's end arms nothing
    assert not trims.event.wait(0.2)
    inner.__exit__(None, None, None)
    assert trims.event.wait(5.0)
    assert trims.count == 1


def test_a_busy_engine_trims_at_most_every_interval() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=0.5, delay_s=0.01, trim=trims)
    with heap.call():
        pass
    assert trims.event.wait(5.0)
    trims.event.clear()
    with heap.call():  # idle again at once: the next trim waits for the interval
        pass
    assert not trims.event.wait(0.2)
    assert trims.event.wait(5.0)
    assert trims.count == 2


def test_close_cancels_a_pending_trim() -> None:
    trims = Trims()
    heap = HeapTrimmer(interval_s=0.0, delay_s=0.2, trim=trims)
    with heap.call():
        pass
    heap.close()
    assert not trims.event.wait(0.5)


def test_periodic_trim_at_most_every_interval() -> None:
    trims = Trims()
    now = [100.0]
    periodic = PeriodicTrim(30.0, trim=trims, clock=lambda: now[0])
    ticks = []
    for t in (100.0, 101.0, 129.0, 130.0, 131.0, 200.0):
        now[0] = t
        ticks.append(periodic.tick())
    assert ticks == [True, False, False, True, False, True]
    assert trims.count == periodic.trims == 3


def test_glibc_trims_here() -> None:
    if MALLOC_TRIM is None:
        pytest.skip("this C library has no malloc_trim")
    heap = HeapTrimmer()
    assert heap.available
    heap.run()
    assert heap.trims == 1


ROOT = Path(__file__).resolve().parents[2]
JEMALLOC = "libjemalloc.so.2"

#: frees 200 MB of 64 KB blocks while the last block stays in use (glibc cannot shrink its heap's
#: top), reads RSS, trims, reads RSS: prints the allocator and the two readings in MB
FREE_THEN_TRIM = """
import ctypes, json
from app.heap import ALLOCATOR, MALLOC_TRIM

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(65536) for _ in range(3200)]
for block in blocks:
    ctypes.memset(block, 1, 65536)
for block in blocks[:-1]:
    libc.free(block)
freed = rss()
MALLOC_TRIM()
print(json.dumps({"allocator": ALLOCATOR, "freed": freed, "trimmed": rss()}))
"""


def _jemalloc_installed() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "from app.heap import ALLOCATOR; print(ALLOCATOR)"],
        env={**os.environ, "LD_PRELOAD": JEMALLOC},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return probe.stdout.strip() == "jemalloc"


def _need_jemalloc() -> None:
    if not _jemalloc_installed():
        message = f"{JEMALLOC} is not installed (make setup installs Debian's libjemalloc2, as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _free_then_trim(env: dict[str, str]) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-c", FREE_THEN_TRIM], env={**os.environ, **env}, capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result: dict[str, float | str] = json.loads(out.stdout)
    return result


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
@pytest.mark.parametrize("allocator", ["glibc", "jemalloc"])
def test_a_trim_gives_freed_memory_back(allocator: str) -> None:
    if allocator == "jemalloc":
        _need_jemalloc()
        # no decay of its own: what comes back is the purge's doing
        env = {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:0"}
    else:
        env = {"MALLOC_ARENA_MAX": "2", "LD_PRELOAD": ""}
    result = _free_then_trim(env)
    assert result["allocator"] == allocator
    freed, trimmed = float(result["freed"]), float(result["trimmed"])
    assert freed - trimmed > 150, result  # of the 200 MB freed


def test_the_committed_config_runs_its_replicas_on_jemalloc() -> None:
    # serve_config.yaml's runtime_env is the environment Ray starts each replica process with: with
    # it, this code finds jemalloc and trims with its purge
    _need_jemalloc()
    raw = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    env_vars = raw["applications"][0]["runtime_env"]["env_vars"]
    assert env_vars["LD_PRELOAD"] == JEMALLOC
    assert "background_thread:true" in env_vars["MALLOC_CONF"]
    result = _free_then_trim(env_vars)
    assert result["allocator"] == "jemalloc"


def test_the_primitive_cache_setting_defers_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIMITIVE_CACHE_ENV, raising=False)
    assert limit_primitive_cache() == "0"
    monkeypatch.setenv(PRIMITIVE_CACHE_ENV, "64")
    assert limit_primitive_cache() == "64"


def _another(trims: Trims, wait_s: float) -> bool:
    trims.event.clear()
    return trims.event.wait(wait_s)
