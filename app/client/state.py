"""A stream's lifecycle, as an explicit state machine.

::

    NEW ─open()─▶ OPEN ─stop()─▶ STOPPING ─session_ended─▶ ENDED
                   │ ▲              │
      socket drops │ │ resumed      │ socket drops
                   ▼ │              ▼
                  RESUMING ◀────────┘     (auto-resume: it reconnects by itself, with backoff)
                   │ gave up
                   ▼
                  DISCONNECTED ─reconnect()─▶ OPEN / STOPPING
    (auto-resume off: a drop goes straight to DISCONNECTED)
    any live state ─4xxx close─▶ FAILED;  any state ─close()─▶ CLOSED
"""

from __future__ import annotations

from enum import Enum


class StreamState(Enum):
    NEW = "new"
    OPEN = "open"  # started: audio and commands accepted
    STOPPING = "stopping"  # stop_stream sent; results arrive until session_ended
    RESUMING = "resuming"  # a socket dropped; reconnecting by itself (audio is kept, commands wait)
    DISCONNECTED = "disconnected"  # the command socket dropped; reconnect() may resume
    ENDED = "ended"  # session_ended received
    FAILED = "failed"  # the server ended the session with a 4xxx close
    CLOSED = "closed"  # close() or the context exited


S = StreamState
NEXT: dict[StreamState, frozenset[StreamState]] = {
    S.NEW: frozenset({S.OPEN, S.CLOSED}),
    S.OPEN: frozenset({S.STOPPING, S.RESUMING, S.DISCONNECTED, S.ENDED, S.FAILED, S.CLOSED}),
    S.STOPPING: frozenset({S.RESUMING, S.DISCONNECTED, S.ENDED, S.FAILED, S.CLOSED}),
    S.RESUMING: frozenset({S.OPEN, S.STOPPING, S.DISCONNECTED, S.ENDED, S.FAILED, S.CLOSED}),
    S.DISCONNECTED: frozenset({S.OPEN, S.STOPPING, S.ENDED, S.FAILED, S.CLOSED}),
    S.ENDED: frozenset({S.CLOSED}),
    S.FAILED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
