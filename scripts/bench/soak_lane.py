"""One soak lane: sessions one after another, each streaming the looped benchmark stream paced in real
time, with the lane's scheduled events (:mod:`bench.soak_plan`) done between chunks.

Everything a lane does goes through the public client (:class:`app.client.SttStream`): audio,
``reconnect()``, ``pause()``/``resume()``, ``configure()``, ``stop()``, the stored transcript over REST;
the one frame the client cannot send on its own sockets (text on an audio socket) goes on a second
audio socket joined to the session, as the protocol allows. A failure is recorded in the session's
``client_errors`` and the lane goes on with a new session: a soak reports, it does not crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app import protocol as p
from app.client import SttClient, SttClientError, SttStream
from app.client.connection import open_socket
from app.client.urls import AUDIO_PATH, ws_url
from app.transcript import SAMPLE_RATE
from bench.soak_plan import BAD_FRAMES, Event, SessionRun, schedule

#: the oversized frame: just over the default limits.max_frame_bytes (8192), whole samples
OVERSIZED_BYTES = 8196
#: the client's own frame cap must let the oversized frame go out whole (normal chunks are 3200 bytes)
CLIENT_MAX_FRAME_BYTES = 16384
#: starts refused by a limit (the previous session not yet released) are retried for this long
START_RETRY_S = 30.0
FAILURE_BACKOFF_S = 2.0
#: a stopped session has this long to send session_ended
STOP_TIMEOUT_S = 60.0


def soak_client(url: str, api_key: str) -> SttClient:
    return SttClient(url, api_key=api_key, max_frame_bytes=CLIENT_MAX_FRAME_BYTES)


@dataclass
class LanePlan:
    pcm: bytes  # the benchmark stream, 16 kHz mono PCM16, looped
    until: float  # soak seconds at which the lane stops its session and ends
    every_s: float = 20.0  # mean speech between two events
    seed: int = 0
    chunk_ms: float = 100.0
    options: dict[str, Any] = field(default_factory=dict)


class _Broken(Exception):
    """The session cannot go on (recorded in ``client_errors``): stop it and start a new one."""


class Lane:
    def __init__(self, client: SttClient, index: int, plan: LanePlan, now: Callable[[], float]) -> None:
        if client.settings.max_frame_bytes < OVERSIZED_BYTES:
            raise ValueError(f"the soak's client needs max_frame_bytes >= {OVERSIZED_BYTES} (soak_client())")
        self.client = client
        self.index = index
        self.plan = plan
        self.now = now
        self.runs: list[SessionRun] = []
        self._events: Iterator[Event] = schedule(plan.seed, index, plan.every_s)
        self._pending: Event | None = None
        self._since_event_s = 0.0  # speech streamed since the last event
        self._cursor = 0  # byte offset in the looped stream

    async def run(self) -> list[SessionRun]:
        while self.now() < self.plan.until:
            run = SessionRun(self.index, len(self.runs) + 1)
            self.runs.append(run)
            try:
                await self._session(run)
            except Exception as exc:  # a bug of the soak itself must not hide the other lanes' results
                run.client_errors.append(f"soak_error: {type(exc).__name__}: {exc}")
            if run.client_errors:
                await asyncio.sleep(FAILURE_BACKOFF_S)
        return self.runs

    # ------------------------------------------------------------------ one session

    async def _session(self, run: SessionRun) -> None:
        stream = await self._open(run)
        if stream is None:
            return
        run.session_id = stream.session_id
        run.t0 = self.now()
        receiver = asyncio.create_task(self._receive(stream, run), name=f"soak-recv-{self.index}")
        try:
            with contextlib.suppress(_Broken):
                await self._stream(stream, run, receiver)
            await self._stop(stream, run, receiver)
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
            await stream.close()
        if run.ended is not None:
            run.stored = await compare_stored(self.client, run)

    async def _open(self, run: SessionRun) -> SttStream | None:
        give_up = self.now() + START_RETRY_S
        while True:
            stream = self.client.stream(self.plan.options)
            try:
                return await stream.open()
            except SttClientError as exc:
                run.client_errors.append(_describe(exc))
                if exc.code not in ("at_capacity", "too_many_sessions") or self.now() > give_up:
                    return None
            await asyncio.sleep(1.0)

    async def _receive(self, stream: SttStream, run: SessionRun) -> None:
        try:
            async for msg in stream:
                run.on_message(self.now(), msg)
        except SttClientError as exc:
            run.client_errors.append(_describe(exc))
        except Exception as exc:  # recorded, never lost in the task
            run.client_errors.append(f"receive_failed: {type(exc).__name__}: {exc}")

    async def _stop(self, stream: SttStream, run: SessionRun, receiver: asyncio.Task[None]) -> None:
        if receiver.done():
            return  # the session already ended (or failed: recorded)
        try:
            await stream.stop()
            await asyncio.wait_for(asyncio.shield(receiver), STOP_TIMEOUT_S)
        except SttClientError as exc:
            run.client_errors.append(_describe(exc))
        except TimeoutError:
            run.client_errors.append(f"timeout: no session_ended within {STOP_TIMEOUT_S:g} s of stop_stream")

    # ------------------------------------------------------------------ streaming and events

    async def _stream(self, stream: SttStream, run: SessionRun, receiver: asyncio.Task[None]) -> None:
        """Speech and events until the lane's time is up or a restart event."""
        while True:
            if self._pending is None:
                self._pending = next(self._events)
            event = self._pending
            gap = event.gap_s - self._since_event_s
            if not await self._play(stream, run, receiver, gap, "speech"):
                return
            self._pending, self._since_event_s = None, 0.0
            run.events[event.variant or event.kind] += 1
            if event.kind == "restart":
                return
            await self._event(stream, run, receiver, event)

    async def _event(self, stream: SttStream, run: SessionRun, receiver: asyncio.Task[None], event: Event) -> None:
        try:
            if event.kind == "reconnect":
                started = self.now()
                await stream.reconnect()
                run.reconnect_s.append(self.now() - started)
            elif event.kind == "bad_frame":
                await self._bad_frame(stream, event.variant)
                run.injected[BAD_FRAMES[event.variant]] += 1
            elif event.kind == "pause":
                await stream.pause()
                await self._play(stream, run, receiver, event.duration_s, "paused")
                await stream.resume()  # also when the lane's time ran out: stop_stream follows
            elif event.kind == "silence":
                await self._play(stream, run, receiver, event.duration_s, "silence")
        except SttClientError as exc:
            run.client_errors.append(_describe(exc))
            raise _Broken from exc

    async def _bad_frame(self, stream: SttStream, variant: str) -> None:
        if variant == "misaligned_pcm":
            await stream.send_audio(bytes(3201))
        elif variant == "oversized_frame":
            await stream.send_audio(bytes(OVERSIZED_BYTES))
        elif variant == "text_on_audio_socket":
            settings = self.client.settings
            url = ws_url(settings.base_url, AUDIO_PATH, client_id=settings.client_id, session_id=stream.session_id)
            ws = await open_socket(url, settings)
            try:
                await ws.send(p.KeepAlive().model_dump_json())
            finally:
                await ws.close()
        elif variant == "unknown_option":
            await stream.configure({"soak_no_such_option": True})
        elif variant == "resume_while_streaming":
            await stream.resume()
        else:
            raise ValueError(f"unknown bad frame {variant!r}")

    async def _play(
        self, stream: SttStream, run: SessionRun, receiver: asyncio.Task[None], seconds: float, source: str
    ) -> bool:
        """Send ``seconds`` of audio paced in real time: ``speech`` (the looped stream), ``paused`` (the same,
        while the session is paused: nothing should come of it) or ``silence``. False when the lane's time
        ran out first; raises :class:`_Broken` when the session failed."""
        loop_bytes = len(self.plan.pcm)
        chunk = max(1, round(SAMPLE_RATE * self.plan.chunk_ms / 1000.0)) * 2  # PCM16 mono at 16 kHz
        sent = 0.0
        while sent < seconds - 1e-9:
            if self.now() >= self.plan.until:
                return False
            if receiver.done():
                raise _Broken  # the session ended or failed under us (recorded by the receiver)
            if source == "silence":
                data, corpus = bytes(chunk), None
            else:
                data = self.plan.pcm[self._cursor : self._cursor + chunk]
                corpus = self._cursor // 2 if source == "speech" else None
                self._cursor = (self._cursor + len(data)) % loop_bytes
            samples = len(data) // 2
            seconds_of = samples / SAMPLE_RATE
            deadline = run.t0 + (run.samples + samples) / SAMPLE_RATE
            if (delay := deadline - self.now()) > 0:
                await asyncio.sleep(delay)
            run.max_send_lag_s = max(run.max_send_lag_s, self.now() - deadline)
            try:
                await stream.send_audio(data)
            except SttClientError as exc:
                run.client_errors.append(_describe(exc))
                raise _Broken from exc
            run.add_audio(samples, corpus)
            sent += seconds_of
            if source == "speech":
                self._since_event_s += seconds_of
        return True


async def compare_stored(client: SttClient, run: SessionRun) -> dict[str, Any]:
    """The session's stored transcript (REST) against the finals the client received."""
    assert run.session_id is not None
    try:
        body = json.loads(await client.transcript(run.session_id, "json"))
    except SttClientError as exc:
        return {"error": _describe(exc), "equal": False}
    stored = [(f["seq"], f["text"]) for f in body["finals"]]
    delivered = [(f.seq, f.text) for f in run.finals]
    seqs = [seq for seq, _ in delivered]
    by_seq = dict(stored)
    return {
        "equal": stored == delivered,
        "stored": len(stored),
        "delivered": len(delivered),
        "session_ended_finals": None if run.ended is None else run.ended["finals"],
        "status": body["session"].get("status"),
        "seqs_in_order": seqs == list(range(1, len(seqs) + 1)),
        "not_stored": [seq for seq, _ in delivered if seq not in by_seq],
        "not_delivered": [seq for seq, _ in stored if seq not in set(seqs)],
        "text_differs": [seq for seq, text in delivered if seq in by_seq and by_seq[seq] != text],
    }


def _describe(exc: SttClientError) -> str:
    return f"{exc.code or 'client_error'}: {exc.message[:200]}"
