"""Maps the session's sample offsets to stream time.

Audio received while paused is discarded: it never reaches the buffer or the
models, so sample offsets count only accepted audio. Clients think in the time
of the audio they sent, so paused spans are added back at the protocol edge.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from app.transcript import SAMPLE_RATE


class Timeline:
    def __init__(self, audio_start: datetime) -> None:
        self.audio_start = audio_start
        self._gap_at: list[int] = []  # offsets where discarded audio was cut out
        self._gap_total: list[int] = []  # discarded samples up to and including each gap

    def add_gap(self, at_offset: int, samples: int) -> None:
        if samples <= 0:
            return
        if self._gap_at and self._gap_at[-1] == at_offset:
            self._gap_total[-1] += samples
            return
        self._gap_at.append(at_offset)
        self._gap_total.append((self._gap_total[-1] if self._gap_total else 0) + samples)

    @property
    def discarded_samples(self) -> int:
        return self._gap_total[-1] if self._gap_total else 0

    def stream_samples(self, offset: int) -> int:
        i = bisect.bisect_right(self._gap_at, offset)
        return offset + (self._gap_total[i - 1] if i else 0)

    def seconds(self, offset: int) -> float:
        return round(self.stream_samples(offset) / SAMPLE_RATE, 3)

    def wall_time(self, offset: int) -> datetime:
        return self.audio_start + timedelta(seconds=self.stream_samples(offset) / SAMPLE_RATE)
