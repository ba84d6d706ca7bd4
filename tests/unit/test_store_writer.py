"""The group-commit writer over a fake engine: batching, retries, one bad write failing alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import column, insert, table
from sqlalchemy import exc as sa_exc

from app.errors import StorageUnavailable
from app.store.writer import GroupWriter

T = table("t", column("n"))
INSERT = insert(T)
OTHER = insert(table("u", column("n")))


class FakeEngine:
    """Records transactions; ``fail`` decides, per execute, what to raise."""

    def __init__(self) -> None:
        self.committed: list[list[tuple[Any, Any]]] = []
        self.fail: Any = lambda statement, params: None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        executed: list[tuple[Any, Any]] = []
        engine = self

        class Conn:
            async def execute(self, statement: Any, params: Any) -> None:
                error = engine.fail(statement, params)
                if error is not None:
                    raise error
                executed.append((statement, params))

        yield Conn()
        self.committed.append(executed)


def locked() -> Exception:
    return sa_exc.OperationalError("INSERT", {}, Exception("database is locked"))


def duplicate() -> Exception:
    return sa_exc.IntegrityError("INSERT", {}, Exception("duplicate"))


async def test_concurrent_writes_share_one_commit() -> None:
    engine = FakeEngine()
    writer = GroupWriter(engine, window_s=0.01)  # type: ignore[arg-type]
    await asyncio.gather(*(writer.write(INSERT, {"n": i}) for i in range(10)), writer.write(OTHER, {"n": 99}))
    assert writer.commits == 1
    ((first, many), (second, one)) = engine.committed[0]
    assert first is INSERT and many == [{"n": i} for i in range(10)]  # one executemany, in order
    assert second is OTHER and one == {"n": 99}
    await writer.close()


async def test_transient_failures_are_retried() -> None:
    engine = FakeEngine()
    failures = iter([locked(), locked()])
    engine.fail = lambda statement, params: next(failures, None)
    writer = GroupWriter(engine, window_s=0.0, retry_s=2.0)  # type: ignore[arg-type]
    await writer.write(INSERT, {"n": 1})
    assert engine.committed == [[(INSERT, {"n": 1})]]
    await writer.close()


async def test_a_write_that_keeps_failing_raises_storage_unavailable() -> None:
    engine = FakeEngine()
    engine.fail = lambda statement, params: locked()
    writer = GroupWriter(engine, window_s=0.0, retry_s=0.2)  # type: ignore[arg-type]
    with pytest.raises(StorageUnavailable):
        await writer.write(INSERT, {"n": 1})
    await writer.close()


async def test_one_bad_write_fails_alone() -> None:
    engine = FakeEngine()
    engine.fail = lambda statement, params: (
        duplicate() if {"n": 2} in (params if isinstance(params, list) else [params]) else None
    )
    writer = GroupWriter(engine, window_s=0.01)  # type: ignore[arg-type]
    results = await asyncio.gather(*(writer.write(INSERT, {"n": i}) for i in range(4)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "StorageUnavailable", "NoneType"]
    assert sorted(params["n"] for tx in engine.committed for _, params in tx) == [0, 1, 3]
    await writer.close()


async def test_close_commits_what_is_queued_then_refuses() -> None:
    engine = FakeEngine()
    writer = GroupWriter(engine, window_s=0.05)  # type: ignore[arg-type]
    pending = asyncio.ensure_future(writer.write(INSERT, {"n": 1}))
    await asyncio.sleep(0)
    await writer.close()
    await pending
    assert engine.committed == [[(INSERT, {"n": 1})]]
    with pytest.raises(StorageUnavailable, match="closed"):
        await writer.write(INSERT, {"n": 2})
