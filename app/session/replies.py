"""The plain values a session host answers the sockets with (they cross Ray as they are)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StartReply:
    session_id: str
    replay: list[str]  # JSON messages to send first (session_started, missed finals)
    cursor: int  # then poll after this index
    new: bool = False  # a new session (not a resume): it counts toward the client's limit


@dataclass(frozen=True, slots=True)
class SessionInfo:
    owner: str  # the client that started it
    standalone: bool  # started on an audio socket, which also carries its commands and results
    ended: bool = False  # ended, kept for the resume grace


@dataclass(frozen=True, slots=True)
class PollReply:
    messages: list[tuple[int, str]]
    ended: bool  # session_ended was delivered: close the socket
    close_code: int
