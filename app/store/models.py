"""The storage schema: one row a session, one row a final (unique by ``(session_id, seq)``), one row a
speaker revision (unique by ``(session_id, revision)``).

The schema changes only through Alembic revisions in ``migrations/versions``; a test checks
that the revisions build exactly these tables. Times are stored in UTC (:class:`UtcDateTime`
keeps SQLite, which has no time zones, and PostgreSQL's ``timestamptz`` giving back the same
aware datetimes); ``audio_*`` columns are seconds of stream time, as on the wire.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

#: session states as stored; ``interrupted`` is also reported for an ``active`` session whose host
#: stopped marking it alive (see :class:`app.config.StoreSettings`)
ACTIVE: Final = "active"
ENDED: Final = "ended"
INTERRUPTED: Final = "interrupted"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_type() -> TypeEngine[Any]:
    """JSON, as JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store times as aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(json_type())
    audio_start: Mapped[datetime] = mapped_column(UtcDateTime())  # wall-clock time of the first sample
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())  # its host's last sign of life
    audio_duration: Mapped[float] = mapped_column(Float)  # seconds of stream received, as last recorded
    # what a host taking the session over needs of its stages (the speakers' centroids), by stage
    session_state: Mapped[dict[str, Any] | None] = mapped_column(json_type())

    __table_args__ = (Index(None, "client_id", "started_at", "id"),)


class FinalRow(Base):
    __tablename__ = "finals"

    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    utterance_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    audio_start: Mapped[float] = mapped_column(Float)
    audio_end: Mapped[float] = mapped_column(Float)
    audio_duration: Mapped[float] = mapped_column(Float)
    wall_time: Mapped[datetime] = mapped_column(UtcDateTime())  # the wire's data.timestamp
    words: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    speakers: Mapped[dict[str, Any] | None] = mapped_column(json_type())
    analysis: Mapped[dict[str, Any]] = mapped_column(json_type())
    filters: Mapped[dict[str, Any]] = mapped_column(json_type())
    wake_word_detected: Mapped[bool] = mapped_column(Boolean)
    transcription_time: Mapped[float | None] = mapped_column(Float)
    # FinalData fields newer than these columns, so that a replayed final is the one that was sent
    extra: Mapped[dict[str, Any]] = mapped_column(json_type())
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RevisionRow(Base):
    """A ``speaker_revision`` as it was sent (its finals' rows are updated too)."""

    __tablename__ = "speaker_revisions"

    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    after_seq: Mapped[int] = mapped_column(Integer)
    finals: Mapped[list[dict[str, Any]]] = mapped_column(json_type())
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())
