"""When a session asks for the next partial of the utterance in progress.

A session asks once ``interval`` of new audio has come since its last request, with at most
:data:`MAX_OUTSTANDING` requests out (one running, one queued: a newer request supersedes the
queued one in the scheduler, so work never goes stale). The interval is the scheduler's: every
reply says how often every session should ask now (:mod:`app.streaming.scheduler`), so under load
all sessions' partials thin out together.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.transcript import SAMPLE_RATE

#: requests a session may have out at once: one running and one waiting
MAX_OUTSTANDING = 2


@dataclass(slots=True)
class PartialPolicy:
    min_interval: int = SAMPLE_RATE // 10  # samples of new audio between requests
    max_interval: int = SAMPLE_RATE
    min_audio: int = SAMPLE_RATE // 4  # no call on less audio than this
    _interval: int = 0
    _last_end: int = -1
    _outstanding: int = 0

    def __post_init__(self) -> None:
        self._interval = self.min_interval

    @property
    def outstanding(self) -> int:
        return self._outstanding

    @property
    def interval(self) -> int:
        return self._interval

    def reset(self) -> None:
        """A new utterance: forget the last request's position (not the interval)."""
        self._last_end = -1

    def should_run(self, utterance_start: int, now: int) -> bool:
        if self._outstanding >= MAX_OUTSTANDING or now - utterance_start < self.min_audio:
            return False
        return self._last_end < 0 or now - self._last_end >= self._interval

    def started(self, end: int) -> None:
        self._outstanding += 1
        self._last_end = end

    def finished(self, interval_s: float | None = None) -> None:
        """A request came back; ``interval_s`` is the scheduler's interval (None: keep the current one)."""
        self._outstanding = max(0, self._outstanding - 1)
        if interval_s is not None:
            self._interval = max(self.min_interval, min(self.max_interval, int(interval_s * SAMPLE_RATE)))
