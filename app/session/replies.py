"""The plain values a session host answers the sockets with (they cross Ray as they are).

A host's refusal (an :class:`~app.errors.SttError`) crosses Ray as a :class:`Refused` value, not as
an exception: Ray Serve logs every exception a request raises with its traceback, and a client can
have a call refused on every frame it sends (a bad command, audio after the end), which would flood
the logs. :func:`answer` turns a call's failure into that value; the caller's side raises it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from app.errors import InternalError, SttError
from app.logsample import SampledLog

log = logging.getLogger(__name__)
_sampled = SampledLog(log)

T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class Refused:
    """A host call that failed: ``error`` is raised again where the call was made."""

    error: SttError


async def answer(call: Awaitable[T], what: str) -> T | Refused:
    """``call``'s result, or its failure as :class:`Refused`; a failure that is not an ``SttError`` is a
    server fault: logged (sampled: a client may cause it again and again) and refused as ``internal_error``."""
    try:
        return await call
    except SttError as exc:
        return Refused(exc)
    except Exception:
        _sampled.exception(what, "session host call %s failed", what)
        return Refused(InternalError())


def unwrap(reply: T | Refused) -> T:
    """The caller's side of :func:`answer`."""
    if isinstance(reply, Refused):
        raise reply.error
    return reply
