"""One session as its host holds it, and the plain replies a host gives the sockets.

:func:`make_hosted` wires a :class:`~app.session.controller.StreamSession` to its outbox (through
the host's storage, when it has one: finals are stored before they are queued) and to its audio
recorder (audio retention).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from app import protocol as p
from app.config import ServerSettings
from app.errors import AudioMissing
from app.metrics import Metrics
from app.session.controller import StreamSession
from app.session.outbox import Outbox
from app.session.ports import Clock, Ports
from app.session.storage import HostStorage
from app.store.audio import AudioRecorder


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


@dataclass(slots=True)
class Hosted:
    owner: str
    session: StreamSession
    outbox: Outbox
    standalone: bool
    end_reason: str | None = None
    ended_at: float | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    inbox: deque[bytes] = field(default_factory=deque)
    inbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)  # set while no audio awaits processing
    received_bytes: int = 0
    received: asyncio.Event = field(default_factory=asyncio.Event)  # set on every frame
    feeder: asyncio.Task[None] | None = None
    recorder: AudioRecorder | None = None  # audio retention
    revived: bool = False  # taken over from the store: the audio its old host received is unknown here
    created_at: float = 0.0  # wall time it was registered here: orders a client's parallel starts


QUIET_S = 0.3


async def await_audio(hosted: Hosted, total: int, *, wait_s: float, clock: Clock) -> None:
    """Wait until ``total`` audio bytes have arrived (from the audio socket, which may be on
    another replica and behind the control socket), or until ``wait_s``.

    A session taken over after a restart cannot tell which part of ``total`` its old host received:
    it waits until the audio pauses for :data:`QUIET_S` instead (within ``wait_s`` too)."""
    deadline = clock.monotonic() + wait_s
    while hosted.revived or hosted.received_bytes < total:
        left = deadline - clock.monotonic()
        if left <= 0:
            if not hosted.revived:
                warning = AudioMissing(
                    f"stop_stream named {total} audio bytes but {hosted.received_bytes} arrived; flushing what arrived"
                )
                hosted.outbox.put(p.Warning_.of(hosted.session.session_id, warning))
            return
        hosted.received.clear()
        try:
            await asyncio.wait_for(hosted.received.wait(), min(left, QUIET_S) if hosted.revived else left)
        except TimeoutError:
            if hosted.revived:
                return


def make_hosted(
    session_id: str,
    client_id: str,
    standalone: bool,
    *,
    settings: ServerSettings,
    ports: Ports,
    clock: Clock,
    metrics: Metrics,
    storage: HostStorage | None,
    first_seq: int = 1,
    offset_s: float = 0.0,
) -> Hosted:
    outbox = Outbox()
    recorder = storage.recorder(session_id, offset_s) if storage is not None else None

    async def emit(m: p.ServerMessage) -> None:
        if isinstance(m, p.SessionEnded) and recorder is not None:
            # the session's audio is all in: the file is complete before the client hears of the end
            await recorder.close()
        if storage is not None:
            await storage.deliver(outbox, m)
        else:
            outbox.put(m)

    session = StreamSession(
        session_id,
        settings=settings,
        ports=ports,
        emit=emit,
        clock=clock,
        metrics=metrics,
        first_seq=first_seq,
        stream_offset_s=offset_s,
        on_audio=recorder.write if recorder is not None else None,
    )
    return Hosted(owner=client_id, session=session, outbox=outbox, standalone=standalone, recorder=recorder)


def resumed_message(hosted: Hosted) -> str:
    """The ``session_started`` of a resume."""
    options = hosted.session.options
    return p.SessionStarted(
        session_id=hosted.session.session_id,
        resumed=True,
        audio=p.AudioFormat(**options.audio.model_dump(include={"sample_rate", "encoding", "channels"})),
        options=options,
    ).model_dump_json()
