"""Speakers that survive a resume, and speaker revisions.

``sessions.session_state``: the stages' state a host taking a session over needs (the speakers'
centroids); ``speaker_revisions``: each ``speaker_revision`` sent, for replay on resume.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# frozen here, not imported from app.store.models: a revision must not change when the models do
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("session_state", _JSON, nullable=True))
    op.create_table(
        "speaker_revisions",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("after_seq", sa.Integer(), nullable=False),
        sa.Column("finals", _JSON, nullable=False),
        sa.Column("stored_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_speaker_revisions_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", "revision", name="pk_speaker_revisions"),
    )


def downgrade() -> None:
    op.drop_table("speaker_revisions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("session_state")
