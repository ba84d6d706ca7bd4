"""The C heap: give memory freed by a long-running process back to the system.

glibc keeps what a process frees in its arenas (one per thread that allocates, up to 8 per core),
and returns it to the system only from the top of the main heap. A process whose threads allocate
and free buffers of many sizes (a model's activations, a Ray worker's messages) so holds more and
more memory it does not use: measured in the soak (README "Memory"), the session host's thread
arenas grew ~4 MB a minute under four streams. ``malloc_trim(0)`` gives the free pages of every
arena back. Two ways to call it here:

* :class:`HeapTrimmer` (model engines): once the engine's calls in flight are all done and it has
  stayed idle ``delay_s``, at most every ``interval_s``; a busy engine keeps its working set;
* :class:`PeriodicTrim` (session hosts, ingress replicas): from a loop the process runs anyway, at
  most every ``interval_s``.

A trim costs ~1 ms (measured with ~90 MB free in the arenas). Where the C library is not glibc
(musl, macOS) both do nothing.

glibc's trim gives back only whole free pages: a long run of calls with buffers of every size
leaves free chunks on pages still in use, and the realtime engine's trimmed heap crept from 199 MB
after 1,500 calls to 243 MB after 12,000, with 42-44 MB in use throughout (README "Memory").
``serve_config.yaml`` therefore preloads jemalloc (Debian's ``libjemalloc2``, ``make setup``
installs it) into the application's processes; where it is this process's ``malloc``, a trim is
jemalloc's purge of every arena instead (its background thread also returns pages idle for 1 s,
``MALLOC_CONF``). :data:`ALLOCATOR` says which of the two runs here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: an engine that keeps falling idle is trimmed at most this often
ENGINE_TRIM_INTERVAL_S = 10.0
#: how long an engine must stay idle before it is trimmed (longer than a busy engine's gap between calls)
ENGINE_TRIM_DELAY_S = 0.2
#: how often a session host or an ingress replica trims
PERIODIC_TRIM_INTERVAL_S = 30.0

Trim = Callable[[], None]


#: jemalloc's ``MALLCTL_ARENAS_ALL``: "every arena" in a ``mallctl`` name
_JEMALLOC_ALL_ARENAS = 4096


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def malloc_library() -> str | None:
    """The file of the shared library whose ``malloc`` this process calls (``dladdr``), or None
    where that cannot be told."""
    try:
        process = ctypes.CDLL(None)
        dladdr = process.dladdr
        malloc = ctypes.cast(process.malloc, ctypes.c_void_p)
    except (OSError, AttributeError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    info = _DlInfo()
    if not dladdr(malloc, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.fsdecode(info.dli_fname)


def _load_jemalloc_purge() -> Trim | None:
    """jemalloc's purge of every arena, where jemalloc is this process's ``malloc``; else None."""
    library = malloc_library()
    if library is None or "jemalloc" not in os.path.basename(library):
        return None
    try:
        mallctl = ctypes.CDLL(library).mallctl
    except (OSError, AttributeError):
        return None
    mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    mallctl.restype = ctypes.c_int
    name = f"arena.{_JEMALLOC_ALL_ARENAS}.purge".encode()

    def run() -> None:
        mallctl(name, None, None, None, 0)

    return run


def _load_glibc_trim() -> Trim | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


def _load_trim() -> tuple[str | None, Trim | None]:
    purge = _load_jemalloc_purge()
    if purge is not None:
        return "jemalloc", purge
    trim = _load_glibc_trim()
    return ("glibc", trim) if trim is not None else (None, None)


#: this process's allocator as far as trimming goes: "jemalloc", "glibc" or None (neither: no trim)
#: and its trim
ALLOCATOR, MALLOC_TRIM = _load_trim()


class HeapTrimmer:
    """Trims the heap once the engine's calls in flight are all done, at most every ``interval_s``.

    Thread-safe: wrap each call in :meth:`call`. The trim never runs on a call's thread (it would
    delay the reply): the call that leaves the engine idle arms a one-shot timer for the next due
    time, and the timer trims only if the engine is still idle then. So a busy engine trims at most
    every ``interval_s`` in its gaps, and one that goes quiet is trimmed once, ``delay_s`` after.
    """

    def __init__(
        self,
        interval_s: float = ENGINE_TRIM_INTERVAL_S,
        *,
        delay_s: float = ENGINE_TRIM_DELAY_S,
        trim: Trim | None = MALLOC_TRIM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.delay_s = delay_s
        self._trim = trim
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last = -interval_s  # never trimmed
        self._timer: threading.Timer | None = None
        self.trims = 0

    @property
    def available(self) -> bool:
        """Whether this process can trim (glibc or jemalloc)."""
        return self._trim is not None

    @contextmanager
    def call(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0 and self._timer is None and self._trim is not None:
                    wait_s = max(self.delay_s, self._last + self.interval_s - self._clock())
                    self._timer = threading.Timer(wait_s, self._on_timer)
                    self._timer.daemon = True
                    self._timer.start()

    def close(self) -> None:
        """Cancel a pending trim."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._in_flight:
                return  # busy again: the call that leaves it idle arms the next one
            self._last = self._clock()
        self.run()

    def run(self) -> None:
        """Trim now."""
        if self._trim is not None:
            self._trim()
            self.trims += 1


class PeriodicTrim:
    """Trims when :meth:`tick` finds ``interval_s`` passed since the last trim (the first tick trims)."""

    def __init__(
        self,
        interval_s: float = PERIODIC_TRIM_INTERVAL_S,
        *,
        trim: Trim | None = MALLOC_TRIM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self._trim = trim
        self._clock = clock
        self._next = clock()
        self.trims = 0

    def tick(self) -> bool:
        """Trim if due; whether it did."""
        now = self._clock()
        if self._trim is None or now < self._next:
            return False
        self._next = now + self.interval_s
        self._trim()
        self.trims += 1
        return True
