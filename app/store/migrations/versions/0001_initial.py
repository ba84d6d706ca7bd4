"""Sessions and their finals.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# frozen here, not imported from app.store.models: a revision must not change when the models do
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("options", _JSON, nullable=False),
        sa.Column("audio_start", _TIME, nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("audio_duration", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_client_id_started_at_id", "sessions", ["client_id", "started_at", "id"])
    op.create_table(
        "finals",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("utterance_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("audio_start", sa.Float(), nullable=False),
        sa.Column("audio_end", sa.Float(), nullable=False),
        sa.Column("audio_duration", sa.Float(), nullable=False),
        sa.Column("wall_time", _TIME, nullable=False),
        sa.Column("words", _JSON, nullable=False),
        sa.Column("speakers", _JSON, nullable=True),
        sa.Column("analysis", _JSON, nullable=False),
        sa.Column("filters", _JSON, nullable=False),
        sa.Column("wake_word_detected", sa.Boolean(), nullable=False),
        sa.Column("transcription_time", sa.Float(), nullable=True),
        sa.Column("extra", _JSON, nullable=False),
        sa.Column("stored_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_finals_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", "seq", name="pk_finals"),
    )


def downgrade() -> None:
    op.drop_table("finals")
    op.drop_index("ix_sessions_client_id_started_at_id", table_name="sessions")
    op.drop_table("sessions")
