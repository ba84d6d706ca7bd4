"""A session's outgoing messages, indexed so a consumer can read, reconnect and resume.

Every message gets an index 1, 2, 3 …; a consumer polls "everything after index N"
and, by polling again, acknowledges what it got. Finals and speaker revisions are kept
for the life of the session so a reconnecting client can have the ones it missed
replayed; other messages are kept in a bounded window (a slow consumer loses old
partials, never finals).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from app import protocol as p


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    type: str
    json: str


class Outbox:
    def __init__(self, window: int = 1000) -> None:
        self._window: deque[Entry] = deque(maxlen=window)
        self._finals: list[tuple[Entry, int]] = []  # (entry, seq)
        self._revisions: list[tuple[Entry, int]] = []  # (entry, after_seq)
        self._next = 1
        self._changed = asyncio.Event()
        self.ended = False  # session_ended is in the box
        self.end: Entry | None = None  # the session_ended entry

    @property
    def last_index(self) -> int:
        return self._next - 1

    def put(self, msg: p.ServerMessage) -> Entry:
        entry = Entry(self._next, msg.type, msg.model_dump_json())
        self._next += 1
        self._window.append(entry)
        if isinstance(msg, p.FinalResult):
            self._finals.append((entry, msg.seq))
        elif isinstance(msg, p.SpeakerRevision):
            self._revisions.append((entry, msg.after_seq))
        if isinstance(msg, p.SessionEnded):
            self.ended = True
            self.end = entry
        self._changed.set()
        return entry

    def after(self, index: int) -> list[Entry]:
        out = [e for e in self._window if e.index > index]
        # finals that fell out of the window are still owed
        if self._window and self._window[0].index > index + 1:
            owed = sorted([*self._finals, *self._revisions], key=lambda k: k[0].index)
            missing = [e for e, _ in owed if index < e.index < self._window[0].index]
            out = missing + out
        return out

    async def wait(self, after: int, wait_s: float) -> list[Entry]:
        """Entries after ``after``, waiting up to ``wait_s`` for one to arrive."""
        entries = self.after(after)
        if entries or self.ended:
            return entries
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), wait_s)
        except TimeoutError:
            return []
        return self.after(after)

    def replay(self, last_seq: int | None) -> list[Entry]:
        """Finals a reconnecting client missed: those after ``last_seq``, and the speaker revisions sent
        from final ``last_seq`` on (one the client may have had is harmless: a revision sets labels);
        everything when the client doesn't say (it may have lost what the old socket delivered)."""
        finals = [(e, s) for e, s in self._finals if last_seq is None or s > last_seq]
        revisions = [(e, s) for e, s in self._revisions if last_seq is None or s >= last_seq]
        return [e for e, _ in sorted([*finals, *revisions], key=lambda k: k[0].index)]
