"""A session's incoming audio, the outbox's twin: a bounded queue of frames and the task that feeds
them to the session, one at a time, in order.

The audio socket's calls return at once (:meth:`AudioInbox.put`); the feeder hands each frame to
the session's ``feed``. The queue holds at most ``limit`` frames; past that the session's
``handle_buffer_overflow`` decides (:class:`Overflow`): drop the oldest frame (``DROPPED_OLDEST``)
or refuse this one (``REFUSED``). ``stop_stream`` waits for the audio it names
(:meth:`AudioInbox.wait_for_bytes`: the two sockets are not ordered with each other) and for the
queue to drain (:meth:`AudioInbox.drain`) before the flush.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Awaitable, Callable

#: a session taken over after a restart waits for the audio to pause this long instead
QUIET_S = 0.3


class Overflow(enum.Enum):
    NONE = "none"
    DROPPED_OLDEST = "dropped_oldest"
    REFUSED = "refused"


class AudioInbox:
    def __init__(self, consume: Callable[[bytes], Awaitable[None]], *, limit: int, name: str) -> None:
        """``consume``: applies one frame (the session's feed, with its errors reported); it must not
        raise. ``known_bytes`` (see :attr:`known_bytes`) is false for a session taken over from the store."""
        self._consume = consume
        self._limit = limit
        self._name = name
        self._frames: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()  # set while no audio awaits processing
        self._received = asyncio.Event()  # set on every frame
        self._feeder: asyncio.Task[None] | None = None
        #: bytes of the stream received: the byte offset in the stream of the next frame
        self.received_bytes = 0
        #: false when the session was taken over after a restart: what its old host received is unknown
        self.known_bytes = True

    def put(self, data: bytes, *, drop_oldest: bool) -> Overflow:
        """Queue a frame (its bytes count as received either way); returns what overflow did."""
        self.received_bytes += len(data)
        self._received.set()
        overflow = Overflow.NONE
        if len(self._frames) >= self._limit:
            if not drop_oldest:
                return Overflow.REFUSED
            self._frames.popleft()
            overflow = Overflow.DROPPED_OLDEST
        self._frames.append(data)
        self._drained.clear()
        self._ready.set()
        if self._feeder is None:
            self._feeder = asyncio.create_task(self._feed_forever(), name=f"feed-{self._name}")
        return overflow

    async def drain(self) -> None:
        """Wait until every queued frame has been applied."""
        if self._feeder is not None:
            await self._drained.wait()

    async def wait_for_bytes(self, total: int, *, wait_s: float, monotonic: Callable[[], float]) -> bool:
        """Wait until ``total`` bytes have arrived, at most ``wait_s``; False when they did not.

        Without :attr:`known_bytes` it waits until the audio pauses for :data:`QUIET_S` instead
        (within ``wait_s`` too), and answers True."""
        deadline = monotonic() + wait_s
        while not self.known_bytes or self.received_bytes < total:
            left = deadline - monotonic()
            if left <= 0:
                return not self.known_bytes
            self._received.clear()
            try:
                await asyncio.wait_for(self._received.wait(), left if self.known_bytes else min(left, QUIET_S))
            except TimeoutError:
                if not self.known_bytes:
                    return True
        return True

    def close(self) -> None:
        """Stop feeding; frames still queued are dropped."""
        if self._feeder is not None:
            self._feeder.cancel()

    async def _feed_forever(self) -> None:
        while True:
            if not self._frames:
                self._drained.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            await self._consume(self._frames.popleft())
