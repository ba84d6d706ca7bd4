"""The transcript store: sessions and their finals, in SQLite or PostgreSQL (SQLAlchemy 2, async).

One :class:`TranscriptStore` per process (a session host, an ingress replica), bound to the event
loop that first uses it. It opens lazily: the first call creates the engine and runs the schema
migrations. Writes go through a :class:`~app.store.writer.GroupWriter` (one commit for the writes
of many sessions); each write method returns when its write is durable. Reads run on their own.

Failures surface as :class:`~app.errors.StorageUnavailable` (the message never carries the
database's text); a bad pagination cursor as :class:`~app.errors.InvalidRequest`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, delete, func, make_url, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from app import protocol as p
from app.config import StoreSettings
from app.errors import InvalidRequest, StorageUnavailable
from app.safejson import parse_json
from app.store.engine import make_engine, migrate
from app.store.models import ACTIVE, ENDED, INTERRUPTED, FinalRow, RevisionRow, SessionRow
from app.store.records import (
    SessionPage,
    SessionRecord,
    Status,
    final_message,
    final_values,
    revised_words,
    revision_message,
    revision_values,
)
from app.store.writer import GroupWriter

log = logging.getLogger(__name__)

S = cast(Table, SessionRow.__table__)
F = cast(Table, FinalRow.__table__)
R = cast(Table, RevisionRow.__table__)
MAX_PAGE = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


class TranscriptStore:
    def __init__(self, settings: StoreSettings, *, now: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self._now = now
        self._engine: AsyncEngine | None = None
        self._writer: GroupWriter | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        self._statements: dict[str, Executable] = {}

    @property
    def where(self) -> str:
        """The database, for logs (no password)."""
        return make_url(self.settings.url).render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return make_url(self.settings.url).get_backend_name()

    @property
    def commits(self) -> int:
        """Write transactions committed so far (each holds a batch of writes)."""
        return self._writer.commits if self._writer is not None else 0

    # ------------------------------------------------------------------ life

    async def open(self) -> None:
        """Create the engine and bring the schema to the newest revision (idempotent)."""
        async with self._opening:
            if self._engine is not None:
                return
            if self._closed:
                raise StorageUnavailable("the transcript store is closed")
            engine = make_engine(self.settings.url)
            try:
                await migrate(engine)
            except Exception as exc:
                await engine.dispose()
                log.error("transcript store %s cannot be opened: %s", self.where, type(exc).__name__)
                raise StorageUnavailable("the transcript store is unavailable; retry later") from exc
            self._statements = _statements(engine.dialect.name)
            self._writer = GroupWriter(engine, window_s=self.settings.batch_window_s)
            self._engine = engine
            log.info("transcript store open: %s", self.where)

    async def close(self) -> None:
        """Commit pending writes and release connections; later calls raise StorageUnavailable."""
        async with self._opening:
            self._closed = True
            if self._writer is not None:
                await self._writer.close()
            if self._engine is not None:
                await self._engine.dispose()
            self._engine = self._writer = None

    async def _ready(self) -> tuple[AsyncEngine, GroupWriter]:
        if self._engine is None or self._writer is None:
            await self.open()
        assert self._engine is not None and self._writer is not None
        return self._engine, self._writer

    async def _write(self, name: str, params: dict[str, Any]) -> None:
        _, writer = await self._ready()
        await writer.write(self._statements[name], params)

    # ------------------------------------------------------------------ writes (durable on return)

    async def start_session(
        self, session_id: str, client_id: str, *, options: Mapping[str, Any], audio_start: datetime
    ) -> None:
        now = self._now()
        row = {
            "id": session_id,
            "client_id": client_id,
            "status": ACTIVE,
            "end_reason": None,
            "options": dict(options),
            "audio_start": audio_start,
            "started_at": now,
            "ended_at": None,
            "last_seen_at": now,
            "audio_duration": 0.0,
        }
        await self._write("insert_session", row)

    async def resume_session(self, session_id: str) -> None:
        """An interrupted session streams again (a new host took it over)."""
        await self._write("resume", {"b_id": session_id, "b_seen": self._now()})

    async def save_final(self, final: p.FinalResult) -> None:
        """Returns when the final is durable; saving the same ``(session_id, seq)`` again is a no-op."""
        await self._write("insert_final", final_values(final, self._now()))

    async def save_state(self, session_id: str, state: Mapping[str, Any]) -> None:
        """The session's stage state (what a host that takes it over restores), replacing the last."""
        await self._write("state", {"b_id": session_id, "b_state": dict(state)})

    async def save_revision(self, revision: p.SpeakerRevision) -> None:
        """Stores a speaker revision and applies it to the stored finals it names (which must be
        stored already: a revision follows its finals); returns when durable."""
        seqs = [f.seq for f in revision.finals]
        rows = await self._read(
            select(F.c.seq, F.c.words).where(F.c.session_id == revision.session_id, F.c.seq.in_(seqs))
        )
        words = {r.seq: r.words for r in rows}
        writes = [self._write("insert_revision", revision_values(revision, self._now()))]
        for f in revision.finals:
            if f.seq in words:
                params = {
                    "b_id": revision.session_id,
                    "b_seq": f.seq,
                    "b_words": revised_words(words[f.seq], f),
                    "b_speakers": f.speakers.model_dump(mode="json"),
                }
                writes.append(self._write("revise_final", params))
        await asyncio.gather(*writes)

    async def end_session(self, session_id: str, *, reason: str, audio_duration: float) -> None:
        """``reason`` ``shutdown`` leaves the session ``interrupted`` (resumable); any other ends it."""
        now = self._now()
        interrupted = reason == "shutdown"
        await self._write(
            "end",
            {
                "b_id": session_id,
                "b_status": INTERRUPTED if interrupted else ENDED,
                "b_reason": reason,
                "b_ended": None if interrupted else now,
                "b_seen": now,
                "b_duration": audio_duration,
            },
        )

    async def touch_sessions(self, durations: Mapping[str, float]) -> None:
        """A host's sign of life for its live sessions, with their audio received so far."""
        now = self._now()
        await asyncio.gather(
            *(
                self._write("touch", {"b_id": sid, "b_seen": now, "b_duration": seconds})
                for sid, seconds in durations.items()
            )
        )

    async def delete_session(self, session_id: str) -> bool:
        """Deletes the session and its finals; False when there was none."""
        engine, _ = await self._ready()
        try:
            async with engine.begin() as conn:
                await conn.execute(delete(R).where(R.c.session_id == session_id))
                await conn.execute(delete(F).where(F.c.session_id == session_id))
                result = await conn.execute(delete(S).where(S.c.id == session_id))
        except sa_exc.SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        return bool(result.rowcount)

    # ------------------------------------------------------------------ reads

    async def get_session(self, session_id: str) -> SessionRecord | None:
        rows = await self._read(_session_select().where(S.c.id == session_id))
        return self._record(rows[0]) if rows else None

    async def list_sessions(
        self,
        client_id: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SessionPage:
        """A client's sessions, newest first; ``since``/``until`` bound their start time ``[since, until)``."""
        limit = max(1, min(limit, MAX_PAGE))
        stmt = _session_select().where(S.c.client_id == client_id)
        if since is not None:
            stmt = stmt.where(S.c.started_at >= since)
        if until is not None:
            stmt = stmt.where(S.c.started_at < until)
        if cursor is not None:
            started, sid = decode_cursor(cursor)
            stmt = stmt.where(or_(S.c.started_at < started, and_(S.c.started_at == started, S.c.id < sid)))
        rows = await self._read(stmt.order_by(S.c.started_at.desc(), S.c.id.desc()).limit(limit + 1))
        records = [self._record(r) for r in rows[:limit]]
        more = len(rows) > limit
        return SessionPage(records, encode_cursor(records[-1].started_at, records[-1].session_id) if more else None)

    async def finals(self, session_id: str, after_seq: int = 0) -> list[p.FinalResult]:
        """The session's finals with ``seq > after_seq``, in order."""
        rows = await self._read(select(F).where(F.c.session_id == session_id, F.c.seq > after_seq).order_by(F.c.seq))
        return [final_message(r) for r in rows]

    async def revisions(self, session_id: str) -> list[p.SpeakerRevision]:
        """The session's speaker revisions, in order."""
        rows = await self._read(select(R).where(R.c.session_id == session_id).order_by(R.c.revision))
        return [revision_message(r) for r in rows]

    async def _read(self, stmt: Select[Any]) -> list[Any]:
        engine, _ = await self._ready()
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(stmt)).all())
        except sa_exc.SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def _record(self, row: Any) -> SessionRecord:
        status: Status = row.status
        stale = self._now() - timedelta(seconds=self.settings.interrupted_after_s)
        if status == ACTIVE and row.last_seen_at < stale:
            status = INTERRUPTED
        return SessionRecord(
            session_id=row.id,
            client_id=row.client_id,
            status=status,
            end_reason=row.end_reason,
            options=row.options,
            audio_start=row.audio_start,
            started_at=row.started_at,
            ended_at=row.ended_at,
            last_seen_at=row.last_seen_at,
            audio_duration=row.audio_duration,
            finals=row.n_finals,
            last_seq=row.last_seq,
            last_audio_end=row.last_audio_end,
            session_state=row.session_state,
        )


def _session_select() -> Select[Any]:
    mine = F.c.session_id == S.c.id
    n = select(func.count()).where(mine).scalar_subquery()
    last_seq = select(func.coalesce(func.max(F.c.seq), 0)).where(mine).scalar_subquery()
    last_end = select(func.coalesce(func.max(F.c.audio_end), 0.0)).where(mine).scalar_subquery()
    return select(S, n.label("n_finals"), last_seq.label("last_seq"), last_end.label("last_audio_end"))


def _statements(dialect: str) -> dict[str, Executable]:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return {
        # conflicts are ignored: a commit whose acknowledgement was lost is retried
        "insert_session": insert(S).on_conflict_do_nothing(),
        "insert_final": insert(F).on_conflict_do_nothing(),
        "resume": update(S)
        .where(S.c.id == bindparam("b_id"))
        .values(status=ACTIVE, end_reason=None, ended_at=None, last_seen_at=bindparam("b_seen")),
        "end": update(S)
        .where(S.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            end_reason=bindparam("b_reason"),
            ended_at=bindparam("b_ended"),
            last_seen_at=bindparam("b_seen"),
            audio_duration=bindparam("b_duration"),
        ),
        "insert_revision": insert(R).on_conflict_do_nothing(),
        "state": update(S).where(S.c.id == bindparam("b_id")).values(session_state=bindparam("b_state")),
        "revise_final": update(F)
        .where(F.c.session_id == bindparam("b_id"), F.c.seq == bindparam("b_seq"))
        .values(words=bindparam("b_words"), speakers=bindparam("b_speakers")),
        "touch": update(S)
        .where(S.c.id == bindparam("b_id"), S.c.status != ENDED)
        .values(last_seen_at=bindparam("b_seen"), audio_duration=bindparam("b_duration")),
    }


def _unavailable(exc: Exception) -> StorageUnavailable:
    log.error("transcript store read failed: %s", type(exc).__name__)
    return StorageUnavailable("the transcript store is unavailable; retry later")


def encode_cursor(started_at: datetime, session_id: str) -> str:
    raw = json.dumps([started_at.isoformat(), session_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, sid = parse_json(raw, max_depth=1)
        when = datetime.fromisoformat(started)
        if not isinstance(sid, str) or when.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):  # JsonRejected is a ValueError
        raise InvalidRequest("cursor is not valid; pass the next_cursor of a previous page") from None
    return when, sid
