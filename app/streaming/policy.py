"""When to re-transcribe the utterance in progress with the realtime model.

A call starts when none is running and enough new audio has arrived since the
last one; while a call runs, ticks are skipped rather than queued, so work never
goes stale. The interval adapts to the model's latency: when calls get slow
(a busy replica, many sessions) partials come less often instead of piling up.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.transcript import SAMPLE_RATE


@dataclass(slots=True)
class PartialPolicy:
    min_interval: int = SAMPLE_RATE // 10  # samples of new audio between calls
    max_interval: int = SAMPLE_RATE
    min_audio: int = SAMPLE_RATE // 4  # no call on less audio than this
    _interval: int = 0
    _last_end: int = -1
    _inflight: bool = False

    def __post_init__(self) -> None:
        self._interval = self.min_interval

    @property
    def inflight(self) -> bool:
        return self._inflight

    @property
    def interval(self) -> int:
        return self._interval

    def reset(self) -> None:
        """A new utterance: forget the last call's position (not its latency)."""
        self._last_end = -1

    def should_run(self, utterance_start: int, now: int) -> bool:
        if self._inflight or now - utterance_start < self.min_audio:
            return False
        return self._last_end < 0 or now - self._last_end >= self._interval

    def started(self, end: int) -> None:
        self._inflight = True
        self._last_end = end

    def finished(self, latency_s: float) -> None:
        self._inflight = False
        # the next call waits for about as much new audio as the last call took
        wanted = int(latency_s * SAMPLE_RATE)
        self._interval = max(self.min_interval, min(self.max_interval, wanted))
