"""Logging that a client cannot flood.

A client that sends garbage can cause the same failure on every frame. Logging each one (with a
traceback) would let it fill the logs and hide everything else, so failures a client can repeat
are logged through a :class:`SampledLog`: the first :data:`FIRST` of each kind in full, then one
in every :data:`EVERY` with the count since the last one logged. Every occurrence still counts in
the ``errors`` metric.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

#: occurrences of one kind logged in full before sampling starts
FIRST = 3
#: then one occurrence in this many is logged
EVERY = 1000
#: kinds remembered at once (oldest forgotten first): keys may come from many sessions
MAX_KINDS = 4096


class SampledLog:
    def __init__(self, logger: logging.Logger, *, first: int = FIRST, every: int = EVERY) -> None:
        self._logger = logger
        self._first = first
        self._every = every
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count(self, kind: str) -> int:
        with self._lock:
            n = self._seen.pop(kind, 0) + 1
            self._seen[kind] = n  # re-inserted: the dict keeps recently seen kinds last
            if len(self._seen) > MAX_KINDS:
                del self._seen[next(iter(self._seen))]
            return n

    def log(self, level: int, kind: str, msg: str, *args: Any, **kwargs: Any) -> None:
        """``logger.log`` for the first few of ``kind``, then one in :data:`EVERY` (with the count)."""
        n = self._count(kind)
        if n <= self._first or (n - self._first) % self._every == 0:
            suffix = f" (occurrence {n} of this kind)" if n > self._first else ""
            self._logger.log(level, msg + suffix, *args, **kwargs)

    def exception(self, kind: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, kind, msg, *args, exc_info=True, **kwargs)

    def warning(self, kind: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, kind, msg, *args, **kwargs)
