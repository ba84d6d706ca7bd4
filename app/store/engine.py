"""Engines and schema migrations for the two supported databases.

SQLite (``sqlite+aiosqlite``): one file that several processes (session hosts, ingress replicas)
open at once, so it runs in WAL mode with a busy timeout; ``synchronous=FULL`` makes a commit
durable when it returns (the store's promise, :meth:`TranscriptStore.save_final`).
PostgreSQL (``postgresql+asyncpg``): commits are durable by default.

Every process runs ``alembic upgrade head`` when it opens the store; concurrent openers are
serialised by a lock (an advisory lock on PostgreSQL, a lock file beside the SQLite file).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x72747374  # any constant shared by every process of the app ("rtst")
_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=15000",  # first: switching to WAL waits for other processes' locks too
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL; None for another database or an in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def make_engine(url: str) -> AsyncEngine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """``alembic upgrade head`` on this engine's database, one process at a time."""
    async with _migration_lock(engine), engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # held until the commit: every other opener waits here, then finds the schema at head
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        await conn.run_sync(_upgrade)
        await conn.commit()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@contextlib.asynccontextmanager
async def _migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        yield
        return
    with open(path.with_name(path.name + ".migrate.lock"), "a+b") as lock:  # noqa: ASYNC230 (a local lock file)
        await asyncio.to_thread(fcntl.flock, lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
