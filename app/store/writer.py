"""Group commit: many sessions' writes, one transaction.

Callers :meth:`GroupWriter.write` a statement with its parameters and wait; a background task
gathers whatever arrives within ``window_s`` of the first pending write (and whatever queued up
while the previous commit ran), executes consecutive writes of the same statement as one
``executemany`` and commits them together. Every caller's wait ends when its write is durable,
so "persisted before sent" costs one commit per batch, not one per final.

Transient failures (connection lost, database locked) are retried, with backoff, for up to
``retry_s``; a batch that fails otherwise is retried write by write, so one bad write fails alone.
Writes must be idempotent (inserts ignore conflicts), since a commit whose acknowledgement was
lost is retried.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from app.errors import StorageUnavailable

log = logging.getLogger(__name__)

_TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError)


@dataclass(slots=True)
class _Write:
    statement: Executable
    params: dict[str, Any]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupWriter:
    def __init__(
        self, engine: AsyncEngine, *, window_s: float = 0.005, max_batch: int = 1000, retry_s: float = 5.0
    ) -> None:
        self._engine = engine
        self._window_s = window_s
        self._max_batch = max_batch
        self._retry_s = retry_s
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0  # transactions committed (for tests and metrics)

    async def write(self, statement: Executable, params: dict[str, Any]) -> None:
        """Returns when the write is committed; raises :class:`StorageUnavailable` when it cannot be."""
        if self._closed:
            raise StorageUnavailable("the transcript store is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")
        item = _Write(statement, params)
        item.done.add_done_callback(_retrieve)  # a caller that gave up must not leave it unretrieved
        self._queue.put_nowait(item)
        # shielded: a caller that is cancelled while waiting does not cancel the write
        await asyncio.shield(item.done)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task

    async def _run(self) -> None:
        stopping = False
        batch: list[_Write] = []
        try:
            while not stopping:
                first = await self._queue.get()
                if first is None:
                    break
                if self._window_s > 0:
                    await asyncio.sleep(self._window_s)
                batch = [first]
                while len(batch) < self._max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                await self._commit(batch)
        finally:
            self._closed = True
            while not self._queue.empty():  # only when cancelled: nobody waits forever
                if (item := self._queue.get_nowait()) is not None:
                    batch.append(item)
            for item in batch:
                _fail(item, RuntimeError("store writer stopped"))

    async def _commit(self, batch: list[_Write]) -> None:
        try:
            await self._retrying(batch)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            log.warning("a batch of %d writes failed; retrying them one by one", len(batch))
            for item in batch:
                try:
                    await self._retrying([item])
                except Exception as one:
                    _fail(item, one)
                else:
                    _succeed(item)
            return
        for item in batch:
            _succeed(item)

    async def _retrying(self, batch: list[_Write]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_s
        delay = 0.05
        while True:
            try:
                await self._transaction(batch)
                return
            except Exception as exc:
                if not _transient(exc) or loop.time() + delay > deadline:
                    raise
                log.warning("store write failed; retrying in %.2f s", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _transaction(self, batch: list[_Write]) -> None:
        async with self._engine.begin() as conn:
            start = 0
            while start < len(batch):
                end = start + 1
                while end < len(batch) and batch[end].statement is batch[start].statement:
                    end += 1
                params = [item.params for item in batch[start:end]]
                await conn.execute(batch[start].statement, params if len(params) > 1 else params[0])
                start = end
        self.commits += 1


def _transient(exc: Exception) -> bool:
    """Worth a retry: the connection or the lock, not the write itself."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


def _succeed(item: _Write) -> None:
    if not item.done.done():
        item.done.set_result(None)


def _fail(item: _Write, exc: BaseException) -> None:
    if item.done.done():
        return
    log.error("store write failed: %s", type(exc).__name__)
    error = StorageUnavailable("the transcript store could not save this")
    error.__cause__ = exc
    item.done.set_exception(error)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
