"""Resuming by itself: the policy, the audio kept for a resume, and which failures a resume outlasts.

When a socket drops without ending the session (no 4xxx close: a crashed session host closes with
1012, a killed ingress replica or a network cut with 1006), a stream with a :class:`ResumePolicy`
reconnects, with backoff, and resumes the session (``start_stream`` with ``last_seq``). Meanwhile it
keeps the audio it is given, and it keeps what it sent after the end of the last final it received
(:class:`KeptAudio`, at most ``buffer_s``): the resume names where that audio starts
(``audio_offset_bytes``), the server answers from where it takes it, and the stream sends it again,
so that a session host that crashed costs no utterance (README "Resume").
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from app.audio.raw import frame_bytes
from app.client.errors import SttClientError
from app.protocol import AudioFormat

#: failures a resume retries although their close code is a 4xxx: the service is briefly short of something
TRANSIENT_CODES = frozenset({"storage_unavailable", "at_capacity"})


@dataclass(frozen=True, slots=True)
class ResumePolicy:
    """How a stream outlives a dropped connection.

    ``enabled``: reconnect and resume by itself (otherwise the stream raises the drop, and
    :meth:`~app.client.stream.SttStream.reconnect` resumes by hand); ``buffer_s``: seconds of audio
    kept after the last final received, sent again on resume (0: none); ``timeout_s``: give up when no
    try succeeded within this; ``first_delay_s`` / ``max_delay_s``: the backoff between tries (the first
    try is at once, then this, doubled each time up to the most, with ±20 % jitter); ``resend_speed``:
    the kept audio goes again at this many times real time (the server allows a resume that much)."""

    enabled: bool = True
    buffer_s: float = 30.0
    timeout_s: float = 120.0
    first_delay_s: float = 0.2
    max_delay_s: float = 2.0
    resend_speed: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.buffer_s <= 600.0:
            raise ValueError(f"resume buffer_s {self.buffer_s} must be 0 to 600 seconds")
        if self.timeout_s <= 0 or self.first_delay_s <= 0 or self.max_delay_s < self.first_delay_s:
            raise ValueError("resume timeout_s and first_delay_s must be positive, max_delay_s at least first_delay_s")
        if self.resend_speed < 1.0:
            raise ValueError(f"resume resend_speed {self.resend_speed} must be at least 1 (real time)")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Seconds to wait before each try: 0, then the backoff."""
        rng = rng or random.Random()
        yield 0.0
        delay = self.first_delay_s
        while True:
            yield delay * rng.uniform(0.8, 1.2)
            delay = min(delay * 2.0, self.max_delay_s)


def can_retry(error: SttClientError) -> bool:
    """Whether a failed try may succeed later: the session is not over (no 4xxx close), or the
    service is briefly short of something."""
    if error.code in TRANSIENT_CODES:
        return True
    if error.http_status is not None:
        return error.http_status >= 500  # the proxy has no replica to route to yet
    return not error.fatal


@dataclass(frozen=True, slots=True)
class ResumeEvent:
    """What a stream's ``on_resume`` callback hears: ``lost`` (a socket dropped; resuming), ``resumed``
    (after ``tries`` tries and ``elapsed_s`` seconds, ``resent_bytes`` of kept audio sent again), or
    ``failed`` (gave up: ``error`` is raised to the reader)."""

    kind: Literal["lost", "resumed", "failed"]
    error: SttClientError | None = None
    tries: int = 0
    elapsed_s: float = 0.0
    resent_bytes: int = 0


class KeptAudio:
    """The audio sent after the end of the last final received, at most ``max_s`` seconds of it.

    Offsets are bytes of the stream's audio (what ``stop_stream.audio_bytes`` counts), always whole
    sample frames. A final's ``audio.end`` releases the audio before it; past the bound the oldest is
    dropped (:attr:`unkept` counts it: a resume cannot send it again), except from :attr:`pinned` on,
    where a resume is reading.
    """

    def __init__(self, fmt: AudioFormat, max_s: float) -> None:
        frame = frame_bytes(fmt.encoding, fmt.channels)
        if frame is None:
            raise ValueError(f"audio of a {fmt.encoding} stream cannot be kept by time")
        self.frame = frame
        self.sample_rate = fmt.sample_rate
        self.bytes_per_second = frame * fmt.sample_rate
        self.max_bytes = int(max_s * fmt.sample_rate) * frame
        self.start = 0
        self.unkept = 0
        self.pinned: int | None = None
        self._buf = bytearray()

    @classmethod
    def for_format(cls, fmt: AudioFormat, max_s: float) -> KeptAudio | None:
        """None where bytes are not time (wav, ogg, mp3) or nothing is to be kept."""
        if max_s <= 0 or frame_bytes(fmt.encoding, fmt.channels) is None:
            return None
        return cls(fmt, max_s)

    @property
    def end(self) -> int:
        """The offset after the last byte sent."""
        return self.start + len(self._buf)

    def offset_at(self, seconds: float) -> int:
        return max(0, int(seconds * self.sample_rate + 1e-6)) * self.frame

    def append(self, data: bytes) -> None:
        self._buf += data
        over = len(self._buf) - self.max_bytes
        if over > 0:
            self.unkept += self._cut(over)

    def release(self, seconds: float) -> None:
        """A final ended at ``seconds`` of stream time: the audio before it is not needed again."""
        self._cut(min(self.offset_at(seconds), self.end) - self.start)

    def read(self, offset: int, size: int) -> bytes:
        i = offset - self.start
        if i < 0:
            raise ValueError(f"offset {offset} is no longer kept (kept from {self.start})")
        return bytes(self._buf[i : i + size])

    def _cut(self, n: int) -> int:
        if self.pinned is not None:
            n = min(n, self.pinned - self.start)
        n -= n % self.frame
        if n <= 0:
            return 0
        del self._buf[:n]
        self.start += n
        return n
