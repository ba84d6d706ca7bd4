"""What the store hands out, and the conversions between wire finals and rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app import protocol as p

Status = Literal["active", "ended", "interrupted"]

# FinalData fields that have columns of their own; any other field travels in ``extra``
_COLUMNS = frozenset(
    {
        "text",
        "is_final",
        "confidence",
        "audio",
        "timestamp",
        "speakers",
        "analysis",
        "filters",
        "wake_word_detected",
        "words",
        "transcription_time",
    }
)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    client_id: str
    #: ``active`` (streaming), ``ended`` (stopped, idle or over-long; ``end_reason`` says which), or
    #: ``interrupted`` (its host went away: a shutdown, or no sign of life for ``interrupted_after_s``);
    #: an interrupted session can be resumed by its client
    status: Status
    end_reason: str | None
    options: dict[str, Any]
    audio_start: datetime
    started_at: datetime
    ended_at: datetime | None
    last_seen_at: datetime
    audio_duration: float
    finals: int
    last_seq: int
    last_audio_end: float
    #: the stages' state a host taking the session over restores (the speakers' centroids)
    session_state: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON of ``GET /v1/sessions`` items."""
        return {
            "session_id": self.session_id,
            "client_id": self.client_id,
            "status": self.status,
            "end_reason": self.end_reason,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at) if self.ended_at else None,
            "audio_start": _iso(self.audio_start),
            "audio_duration": round(max(self.audio_duration, self.last_audio_end), 3),
            "finals": self.finals,
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[SessionRecord]
    next_cursor: str | None  # None on the last page


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def final_values(final: p.FinalResult, stored_at: datetime) -> dict[str, Any]:
    """The ``finals`` row of a wire final."""
    data = final.data
    dumped = data.model_dump(mode="json")
    return {
        "session_id": final.session_id,
        "seq": final.seq,
        "utterance_id": final.utterance_id,
        "text": data.text,
        "confidence": data.confidence,
        "audio_start": data.audio.start,
        "audio_end": data.audio.end,
        "audio_duration": data.audio.duration,
        "wall_time": data.timestamp,
        "words": dumped["words"],
        "speakers": dumped["speakers"],
        "analysis": dumped["analysis"],
        "filters": dumped["filters"],
        "wake_word_detected": data.wake_word_detected,
        "transcription_time": data.transcription_time,
        "extra": {k: v for k, v in dumped.items() if k not in _COLUMNS},
        "stored_at": stored_at,
    }


def final_message(row: Any) -> p.FinalResult:
    """The wire final a ``finals`` row was made from (a row with the table's columns as attributes)."""
    data = {
        **row.extra,
        "text": row.text,
        "confidence": row.confidence,
        "audio": {"start": row.audio_start, "end": row.audio_end, "duration": row.audio_duration},
        "timestamp": row.wall_time,
        "speakers": row.speakers,
        "analysis": row.analysis,
        "filters": row.filters,
        "wake_word_detected": row.wake_word_detected,
        "words": row.words,
        "transcription_time": row.transcription_time,
    }
    return p.FinalResult(
        session_id=row.session_id,
        utterance_id=row.utterance_id,
        seq=row.seq,
        data=p.FinalData.model_validate(data),
    )


def revision_values(revision: p.SpeakerRevision, stored_at: datetime) -> dict[str, Any]:
    """The ``speaker_revisions`` row of a wire revision."""
    return {
        "session_id": revision.session_id,
        "revision": revision.revision,
        "after_seq": revision.after_seq,
        "finals": [f.model_dump(mode="json") for f in revision.finals],
        "stored_at": stored_at,
    }


def revision_message(row: Any) -> p.SpeakerRevision:
    return p.SpeakerRevision(
        session_id=row.session_id,
        revision=row.revision,
        after_seq=row.after_seq,
        finals=[p.RevisedFinal.model_validate(f) for f in row.finals],
    )


def revised_words(words: list[dict[str, Any]], revised: p.RevisedFinal) -> list[dict[str, Any]]:
    """A stored final's words (as JSON) with a revision's speakers."""
    out = [dict(w) for w in words]
    for change in revised.words:
        if change.index < len(out):
            out[change.index]["speaker"] = change.speaker
    return out
