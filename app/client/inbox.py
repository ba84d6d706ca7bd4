"""What a stream has received: the bounded queue iteration drains, and the finals so far.

Overflow policy: when the queue is full, a new ``partial_result`` is dropped (the next partial
supersedes it; :attr:`Inbox.dropped_partials` counts them) and every other message waits for room,
which holds the socket's reader back and so slows the server rather than losing a final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pydantic import ValidationError

from app import protocol as p
from app.client.errors import SttClientError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Closed:
    """Queue marker: command socket ``gen`` closed with ``error``, or the stream was closed (``None``)."""

    gen: int
    error: SttClientError | None


Item = p.ServerMessage | Closed


def parse(raw: str | bytes) -> p.ServerMessage | None:
    """A server message, or ``None`` for one this client cannot read (logged, then skipped)."""
    if isinstance(raw, bytes):
        log.warning("ignoring a binary frame from the server (%d bytes)", len(raw))
        return None
    try:
        return p.parse_server_message(raw)
    except ValidationError:
        # a newer server may send message types this client does not know
        log.warning("ignoring a server message this client does not understand: %.200s", raw)
        return None


class Inbox:
    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue(size)
        self.finals: list[p.FinalResult] = []
        self.started: p.SessionStarted | None = None
        self.fatal_error: p.Error | None = None  # a fatal ``error`` message: it names the close that follows
        self.dropped_partials = 0

    @property
    def last_seq(self) -> int | None:
        return self.finals[-1].seq if self.finals else None

    async def put(self, msg: p.ServerMessage) -> bool:
        """Record and queue a message; ``False`` when it was skipped (a replayed final, a dropped partial)."""
        if isinstance(msg, p.FinalResult):
            if self.last_seq is not None and msg.seq <= self.last_seq:
                log.debug("skipping replayed final %d of session %s", msg.seq, msg.session_id)
                return False
            self.finals.append(msg)
        elif isinstance(msg, p.SessionStarted):
            self.started = msg
        elif isinstance(msg, p.Error) and msg.fatal:
            self.fatal_error = msg
        elif isinstance(msg, p.PartialResult) and self._queue.full():
            self.dropped_partials += 1
            return False
        await self._queue.put(msg)
        return True

    async def put_closed(self, gen: int, error: SttClientError) -> None:
        await self._queue.put(Closed(gen, error))

    def wake(self, gen: int) -> None:
        """Wake a consumer waiting in another task (the stream was closed)."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(Closed(gen, None))

    def empty(self) -> bool:
        return self._queue.empty()

    async def get(self) -> Item:
        return await self._queue.get()
