"""Session ids: made by the server, checked when a client names one, and the one answer for an id
that a client may not use."""

from __future__ import annotations

import re
import uuid

from app.errors import InvalidMessage, SessionNotFound, quote

_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def new_session_id() -> str:
    return uuid.uuid4().hex


def check_session_id(session_id: str) -> str:
    if not _SESSION_ID.match(session_id):
        raise InvalidMessage("session_id must be 1 to 64 characters of letters, digits, '_', '-', '.', ':'")
    return session_id


def not_found(session_id: str) -> SessionNotFound:
    """One answer for a session that does not exist, has ended, or is another client's: which of the
    three is not revealed (a client-chosen id in use by another client is refused with it too)."""
    return SessionNotFound(
        f"no session {quote(session_id)} of this client to join or resume; start a new one (or omit session_id)"
    )
