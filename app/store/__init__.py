"""Transcript storage: sessions and finals in SQLite (default) or PostgreSQL, exports, retained audio."""

from app.store.records import SessionPage, SessionRecord
from app.store.store import TranscriptStore

__all__ = ["SessionPage", "SessionRecord", "TranscriptStore"]
