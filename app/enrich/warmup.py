"""Whether an enrichment model is awake, shared by a host's sessions.

The Diarizer and the Analyzer may scale to zero when no session uses them (``serve_config.yaml``):
their first request then waits for a replica to start and load its model, several seconds,
longer than an enrichment call's ``timeout_s``. So a session that starts (or is configured) with a
feature on wakes its model at once (:meth:`Warmup.kick`), and a call made while the model may be
asleep waits up to ``cold_start_timeout_s`` instead (:meth:`Warmup.timeout_s`): the first final
of such a session may be late, but it gets its speakers and its analysis.

"Awake" means: answered within the last ``awake_s`` (shorter than the deployment's downscale delay).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Warmup:
    def __init__(
        self,
        wake: Callable[[], Awaitable[object]],
        *,
        cold_start_timeout_s: float,
        awake_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wake = wake
        self._cold_start_timeout_s = cold_start_timeout_s
        self._awake_s = awake_s
        self._clock = clock
        self._last_answer: float | None = None
        self._waking: asyncio.Task[None] | None = None

    @property
    def awake(self) -> bool:
        return self._last_answer is not None and self._clock() - self._last_answer < self._awake_s

    def answered(self) -> None:
        """The model answered a call: it is awake."""
        self._last_answer = self._clock()

    def timeout_s(self, normal_s: float) -> float:
        """The timeout of a call now: ``normal_s`` when the model is awake, else the cold-start bound."""
        return normal_s if self.awake else max(normal_s, self._cold_start_timeout_s)

    def kick(self) -> None:
        """Wake the model in the background (one wake-up at a time, none when it is awake)."""
        if self.awake or (self._waking is not None and not self._waking.done()):
            return
        self._waking = asyncio.create_task(self._wake_up(), name="enrichment-warmup")

    async def _wake_up(self) -> None:
        try:
            await asyncio.wait_for(self._wake(), self._cold_start_timeout_s)
        except Exception:
            log.warning("an enrichment model did not wake within %.0f s", self._cold_start_timeout_s)
        else:
            self.answered()
