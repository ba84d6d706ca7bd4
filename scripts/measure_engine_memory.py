"""Does a model engine's memory plateau? One WhisperEngine, in this process, called in a loop.

The model deployments run faster-whisper (CTranslate2) on windows of varying length, ``num_workers``
calls at once. This calls :class:`~app.engines.whisper.WhisperEngine` with requests shaped like
the service's (slices of the benchmark stream's real speech, of random length, with word
timestamps; partial-like requests carry a prompt), ``num_workers`` at a time, and prints the
process's RSS and PSS every ``--every`` calls: a working set that levels off is the allocator
warming up, a line that keeps climbing is a leak.

    .venv/bin/python scripts/measure_engine_memory.py --model realtime --calls 3000
    .venv/bin/python scripts/measure_engine_memory.py --model main --calls 600 --min-s 1 --max-s 15

It runs on the allocator of its environment: glibc's by default, jemalloc as the replicas get it
with ``serve_config.yaml``'s ``runtime_env`` (README "Memory")::

    LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0 \
        .venv/bin/python scripts/measure_engine_memory.py --model realtime --calls 3000

The trims (``--trim`` and the last reading) are the process's own (:data:`app.heap.MALLOC_TRIM`:
glibc's ``malloc_trim`` or jemalloc's purge).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from bench import ROOT
from bench.corpus import DEFAULT_MANIFEST, build_stream

from app.heap import ALLOCATOR, MALLOC_TRIM, malloc_library
from app.transcript import SAMPLE_RATE, TranscribeRequest

ENV_KEYS = (
    "LD_PRELOAD",
    "MALLOC_CONF",
    "MALLOC_ARENA_MAX",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MKL_DISABLE_FAST_MM",
)
PROMPTS = ("And so my fellow Americans", "ask not what your country", "She had your dark suit in")


def memory_mb() -> tuple[float, float]:
    """(RSS, PSS) of this process in MB, from /proc/self/smaps_rollup."""
    fields: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            fields[parts[0]] = int(parts[1])
    return fields["Rss:"] / 1024, fields["Pss:"] / 1024


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _Mallinfo2


def heap_mb() -> tuple[float, float, float]:
    """The C heap, in MB. glibc, over every arena: (in use in the arenas, free in the arenas, mmapped
    chunks); jemalloc (``serve_config.yaml`` preloads it): (allocated, resident less allocated, retained)."""
    if ALLOCATOR == "jemalloc":
        return _jemalloc_heap_mb()
    info = _LIBC.mallinfo2()
    return info.uordblks / 2**20, info.fordblks / 2**20, info.hblkhd / 2**20


def _jemalloc_heap_mb() -> tuple[float, float, float]:
    mallctl = ctypes.CDLL(malloc_library()).mallctl
    mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    epoch = ctypes.c_uint64(1)
    mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.sizeof(epoch))  # refresh the statistics

    def read(name: bytes) -> float:
        value, size = ctypes.c_size_t(0), ctypes.c_size_t(ctypes.sizeof(ctypes.c_size_t))
        mallctl(name, ctypes.byref(value), ctypes.byref(size), None, 0)
        return value.value / 2**20

    allocated = read(b"stats.allocated")
    return allocated, read(b"stats.resident") - allocated, read(b"stats.retained")


def trim() -> None:
    """This process's heap trim (glibc's malloc_trim(0) or jemalloc's purge)."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM()


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def model_settings(config: Path, which: str) -> dict[str, Any]:
    spec = yaml.safe_load(config.read_text())
    settings: dict[str, Any] = spec["applications"][0]["args"]["settings"][f"{which}_model"]
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("realtime", "main"), default="realtime")
    parser.add_argument("--config", type=Path, default=ROOT / "serve_config.yaml")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100, help="print memory every this many calls")
    parser.add_argument("--min-s", type=float, default=0.3, help="shortest request (default %(default)s)")
    parser.add_argument("--max-s", type=float, default=8.0, help="longest request (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trim", action="store_true", help="trim the heap after every call")
    parser.add_argument(
        "--per-call",
        action="store_true",
        help="each request its own call on a pool of num_workers threads (MainASR on CPU), not one batch",
    )
    parser.add_argument("--first-pass", help="first_pass_tokens_per_s for this run ('none': one pass)")
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args(argv)

    from app.config import ModelSettings
    from app.engines import WhisperEngine

    spec = model_settings(args.config, args.model)
    if args.first_pass is not None:
        spec["first_pass_tokens_per_s"] = None if args.first_pass == "none" else float(args.first_pass)
    settings = ModelSettings.model_validate(spec)
    pool = ThreadPoolExecutor(max_workers=settings.num_workers) if args.per_call else None
    stream = build_stream(DEFAULT_MANIFEST).audio
    rng = random.Random(args.seed)
    rss0, pss0 = memory_mb()
    engine = WhisperEngine(settings)
    rss1, pss1 = memory_mb()
    env = f"malloc {ALLOCATOR}; " + " ".join(f"{k}={os.environ.get(k, '-')}" for k in ENV_KEYS)
    print(
        f"{args.model}: {settings.model} {settings.compute_type}, window {settings.window} "
        f"+{settings.window_padding_s} s, {settings.num_workers} workers x {settings.cpu_threads} threads; {env}"
    )
    print(f"before load: RSS {rss0:.0f} PSS {pss0:.0f}; loaded + warm: RSS {rss1:.0f} PSS {pss1:.0f} MB")
    samples: list[dict[str, float]] = []
    started = time.perf_counter()
    cpu0 = _cpu_s()
    done = trims = 0
    trim_s = 0.0
    while done < args.calls:
        requests = []
        for _ in range(settings.num_workers):
            n = round(rng.uniform(args.min_s, args.max_s) * SAMPLE_RATE)
            at = rng.randrange(0, stream.shape[0] - n)
            prompt = rng.choice(PROMPTS) if args.model == "realtime" and rng.random() < 0.7 else None
            requests.append(TranscribeRequest(audio=stream[at : at + n].copy(), initial_prompt=prompt))
        if pool is not None:
            list(pool.map(lambda request: engine.transcribe_batch([request]), requests))
        else:
            engine.transcribe_batch(requests)
        if args.trim:
            t0 = time.perf_counter()
            trim()
            trim_s += time.perf_counter() - t0
            trims += 1
        before = done
        done += len(requests)
        if done // args.every != before // args.every or done >= args.calls:
            rss, pss = memory_mb()
            used, free, mapped = heap_mb()
            elapsed = time.perf_counter() - started
            cpu_ms = (_cpu_s() - cpu0) * 1000 / done
            samples.append(
                {
                    "calls": done,
                    "rss_mb": rss,
                    "pss_mb": pss,
                    "heap_used_mb": used,
                    "heap_free_mb": free,
                    "mmapped_mb": mapped,
                    "s": elapsed,
                    "cpu_ms_per_call": cpu_ms,
                }
            )
            print(
                f"{done:6d} calls {elapsed:5.0f} s {cpu_ms:4.0f} CPU ms/call  RSS {rss:5.0f}  PSS {pss:5.0f}  "
                f"heap used {used:5.0f} free {free:5.0f} mmapped {mapped:5.0f} MB",
                f"{f'  trim {trim_s * 1000 / trims:.1f} ms' if trims else ''}",
                flush=True,
            )
    time.sleep(0.5)  # the engine's own trim once it falls idle (app/heap.py)
    rss, pss = memory_mb()
    print(f"idle 0.5 s later: RSS {rss:.0f} PSS {pss:.0f} MB")
    trim()
    rss, pss = memory_mb()
    used, free, mapped = heap_mb()
    print(f"after a trim: RSS {rss:.0f} PSS {pss:.0f} MB, heap used {used:.0f} free {free:.0f} MB")
    if pool is not None:
        pool.shutdown()
    engine.close()
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"config": str(args.config), "json": None},
                    "loaded": {"rss_mb": rss1, "pss_mb": pss1},
                    "samples": samples,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
