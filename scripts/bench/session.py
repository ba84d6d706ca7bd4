"""One benchmark session: the stream sent through the client library like a microphone, every server
message stamped with its arrival time.

Times are seconds on the event loop's clock relative to the session's ``t0``, the pacing origin:
chunk ``i`` (audio ``[i, i + 1] x chunk_s``) goes out at ``t0 + (i + 1) x chunk_s``, when a
microphone would have it, so audio time ``x`` exists from ``t0 + x`` on and a latency is
``arrival - (t0 + x)``. Deadlines come from ``t0``, never from the previous send, so pacing does not
drift; a late chunk goes at once and is recorded as lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app import protocol as p
from app.client import SttClient, SttClientError, SttStream

#: codes of warnings and errors that mean the server did not keep up
BEHIND_CODES = frozenset({"buffer_overflow", "audio_too_fast", "falling_behind"})


#: a start refused by admission control (the service at capacity): the session never ran
REFUSAL_CODES = frozenset({"at_capacity"})


@dataclass
class Timed:
    at: float  # arrival, seconds from t0
    msg: p.ServerMessage


@dataclass
class SessionRecord:
    index: int
    delay_s: float  # the random stagger before the session opened
    open_s: float = 0.0  # connect + session_started
    messages: list[Timed] = field(default_factory=list)
    audio_s: float = 0.0  # audio seconds sent
    send_end_at: float = 0.0  # when the last chunk went out
    max_send_lag_s: float = 0.0  # the latest a chunk went out after its deadline
    ended_at: float | None = None  # session_ended's arrival
    error: str | None = None
    refused: str | None = None  # the code of a refused start (at_capacity): admission control, not a failure
    dropped_partials: int = 0

    @property
    def finals(self) -> list[Timed]:
        return sorted((t for t in self.messages if isinstance(t.msg, p.FinalResult)), key=_seq)

    @property
    def partials(self) -> list[Timed]:
        return [t for t in self.messages if isinstance(t.msg, p.PartialResult)]

    def codes(self) -> list[str]:
        """Codes of every warning and error the server sent."""
        return [t.msg.code for t in self.messages if isinstance(t.msg, p.Warning_ | p.Error)]

    def hypothesis(self) -> str:
        return " ".join(t.msg.data.text for t in self.finals if isinstance(t.msg, p.FinalResult))

    def summary(self) -> dict[str, Any]:
        last_final = max((t.at for t in self.finals), default=None)
        return {
            "index": self.index,
            "delay_s": round(self.delay_s, 3),
            "open_s": round(self.open_s, 3),
            "audio_s": round(self.audio_s, 3),
            "partials": len(self.partials),
            "finals": len(self.finals),
            "dropped_partials": self.dropped_partials,
            "last_final_at_s": None if last_final is None else round(last_final, 3),
            "session_ended_at_s": None if self.ended_at is None else round(self.ended_at, 3),
            "max_send_lag_s": round(self.max_send_lag_s, 3),
            "codes": self.codes(),
            "error": self.error,
            "refused": self.refused,
            "hypothesis": self.hypothesis(),
        }


def _seq(t: Timed) -> int:
    return t.msg.seq if isinstance(t.msg, p.FinalResult) else 0


@dataclass(frozen=True)
class SessionPlan:
    index: int
    delay_s: float
    pcm: bytes
    chunk_ms: float
    options: dict[str, Any]
    timeout_s: float  # for the whole session, after the stagger


async def run_session(client: SttClient, plan: SessionPlan) -> SessionRecord:
    """Stream ``plan.pcm``, stop, read to ``session_ended``; a failure is recorded, not raised."""
    record = SessionRecord(plan.index, plan.delay_s)
    await asyncio.sleep(plan.delay_s)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(plan.timeout_s):
            opened = loop.time()
            async with client.stream(plan.options) as stream:
                record.open_s = loop.time() - opened
                t0 = loop.time()
                sender = asyncio.create_task(_send(stream, plan, record, t0), name=f"bench-send-{plan.index}")
                try:
                    async for msg in stream:
                        record.messages.append(Timed(loop.time() - t0, msg))
                        if isinstance(msg, p.SessionEnded):
                            record.ended_at = loop.time() - t0
                finally:
                    if not sender.done():
                        sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
                if sender.done() and not sender.cancelled() and (exc := sender.exception()) is not None:
                    raise exc
                record.dropped_partials = stream.dropped_partials
    except TimeoutError:
        record.error = f"timeout: no session_ended within {plan.timeout_s:.0f} s"
    except SttClientError as exc:
        if exc.code in REFUSAL_CODES and not record.messages:
            record.refused = exc.code
        else:
            record.error = f"{exc.code}: {exc}"
    except OSError as exc:
        record.error = f"connection: {exc}"
    return record


async def _send(stream: SttStream, plan: SessionPlan, record: SessionRecord, t0: float) -> None:
    fmt = stream.audio_format
    chunk = max(2, round(fmt.sample_rate * plan.chunk_ms / 1000.0)) * 2 * fmt.channels
    await stream.send_iter(_paced(plan.pcm, chunk, plan.chunk_ms / 1000.0, t0, record))
    record.audio_s = len(plan.pcm) / (2 * fmt.channels * fmt.sample_rate)
    record.send_end_at = asyncio.get_running_loop().time() - t0
    await stream.stop()


async def _paced(pcm: bytes, chunk: int, interval_s: float, t0: float, record: SessionRecord) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    for i, offset in enumerate(range(0, len(pcm), chunk)):
        deadline = t0 + (i + 1) * interval_s
        if (delay := deadline - loop.time()) > 0:
            await asyncio.sleep(delay)
        record.max_send_lag_s = max(record.max_send_lag_s, loop.time() - deadline)
        yield pcm[offset : offset + chunk]
