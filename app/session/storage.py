"""What a session host keeps in the transcript store, and when.

* A session's row is written (durably) when it starts, before ``session_started`` is queued.
* Every final is written before it is queued for the client (:meth:`HostStorage.deliver`): what a
  client has received is stored, and a restarted host can replay it. Finals come from each session's
  final worker, never from the audio path; the store's group commit makes the wait one commit shared
  by every session that finalised meanwhile (a few ms).
* A ``speaker_revision`` is stored, and applied to the stored finals it names, before it is queued;
  the session's stage state (the speakers' centroids) is written with each final that changed it,
  so that a host taking the session over keeps its speaker labels.
* ``session_ended`` is recorded before it is queued, so the REST API agrees with the socket.
* Every ``heartbeat_interval_s`` the host marks its live sessions alive, with their audio duration; an
  unended session nobody marks alive for ``interrupted_after_s`` is reported ``interrupted``.

If the store cannot save a final (after its retries), the final is still delivered, preceded by a
``storage_failed`` warning naming it: the client keeps its transcript, and is told that this final
will not be in the stored one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from app import protocol as p
from app.config import StoreSettings
from app.errors import ConfigError, StorageFailed, StorageUnavailable
from app.metrics import Metrics
from app.options import parse_session_options
from app.session.ids import not_found
from app.session.outbox import Outbox
from app.store import SessionRecord, TranscriptStore
from app.store.audio import AudioArchive, AudioRecorder

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 3600.0


@dataclass(frozen=True, slots=True)
class Revival:
    start: p.StartStream  # the stored options and audio_start
    finals: list[p.FinalResult]
    first_seq: int
    offset_s: float  # the stream time the old host last reported (its heartbeat) or the last final's end
    last_final_end: float  # the end of the last stored final (where re-sent audio takes over)
    revisions: list[p.SpeakerRevision] = field(default_factory=list)
    state: dict[str, Any] | None = None  # the stages' state (speakers), to restore

    def start_s(self, *, resending: bool) -> float:
        """Where the taken-over stream goes on: with re-sent audio, at the end of the last stored final
        (what the old host received after it comes again); without, at the old host's last heartbeat
        (what it received and did not finalise is lost)."""
        return self.last_final_end if resending else self.offset_s


class HostStorage:
    def __init__(
        self,
        store: TranscriptStore,
        *,
        archive: AudioArchive | None,
        settings: StoreSettings,
        metrics: Metrics,
        monotonic: Callable[[], float],
    ) -> None:
        self.store = store
        self.archive = archive
        self._settings = settings
        self._metrics = metrics
        self._monotonic = monotonic
        self._next_beat = 0.0
        self._next_sweep = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(
        cls,
        settings: StoreSettings,
        *,
        metrics: Metrics,
        monotonic: Callable[[], float] = time.monotonic,
        store: TranscriptStore | None = None,
    ) -> HostStorage | None:
        """A host process's storage: ``store``, the process's store, or its own (opened on first use);
        None when storage is off."""
        if not settings.enabled:
            return None
        archive = AudioArchive.from_settings(settings)
        store = store if store is not None else TranscriptStore(settings)
        return cls(store, archive=archive, settings=settings, metrics=metrics, monotonic=monotonic)

    # ------------------------------------------------------------------ sessions

    async def lookup(self, session_id: str) -> SessionRecord | None:
        return await self.store.get_session(session_id)

    async def revival(self, stored: SessionRecord, client_id: str) -> Revival:
        """How a stored session that no host runs any more (its host went away) goes on here: its
        finals come back from the store; its seq and stream time go on from where the store has them
        (audio its old host received but did not finalise is lost)."""
        session_id = stored.session_id
        if stored.client_id != client_id or stored.status == "ended":
            raise not_found(session_id)
        try:
            options = parse_session_options(stored.options)
        except ConfigError:
            raise not_found(session_id) from None
        return Revival(
            start=p.StartStream(options=options, audio_start=stored.audio_start),
            finals=await self.store.finals(session_id),
            first_seq=stored.last_seq + 1,
            offset_s=max(stored.audio_duration, stored.last_audio_end),
            last_final_end=stored.last_audio_end,
            revisions=await self.store.revisions(session_id),
            state=stored.session_state,
        )

    async def started(self, session_id: str, client_id: str, msg: p.StartStream) -> None:
        assert msg.audio_start is not None
        await self.store.start_session(
            session_id, client_id, options=msg.options.model_dump(mode="json"), audio_start=msg.audio_start
        )

    async def revived(self, session_id: str) -> None:
        await self.store.resume_session(session_id)

    async def forget(self, session_id: str) -> None:
        """Undo :meth:`started` for a session that failed to start."""
        with contextlib.suppress(StorageUnavailable):
            await self.store.delete_session(session_id)

    def recorder(self, session_id: str, offset_s: float) -> AudioRecorder | None:
        return self.archive.recorder(session_id, offset_s) if self.archive else None

    async def deliver(self, outbox: Outbox, msg: p.ServerMessage, *, state: dict[str, Any] | None = None) -> None:
        """Store what must be stored before the client may see it, then queue it. ``state``: the
        session's stage state, new since the last final, written with this final."""
        if isinstance(msg, p.FinalResult):
            t0 = self._monotonic()
            try:
                writes = [self.store.save_final(msg)]
                if state is not None:
                    writes.append(self.store.save_state(msg.session_id, state))
                await asyncio.gather(*writes)  # one group commit
            except StorageUnavailable:
                warning = StorageFailed(f"final {msg.seq} could not be stored: it is delivered but will not be kept")
                self._metrics.count("errors", code=warning.code)
                outbox.put(p.Warning_.of(msg.session_id, warning))
            else:
                self._metrics.observe("store_write_s", self._monotonic() - t0)
        elif isinstance(msg, p.SpeakerRevision):
            try:
                await self.store.save_revision(msg)
            except StorageUnavailable:
                log.warning("speaker revision not stored", extra={"session_id": msg.session_id})
        elif isinstance(msg, p.SessionEnded):
            try:
                await self.store.end_session(msg.session_id, reason=msg.reason, audio_duration=msg.audio_duration)
            except StorageUnavailable:
                log.warning("session end not stored", extra={"session_id": msg.session_id})
        outbox.put(msg)

    # ------------------------------------------------------------------ background

    def tick(self, live: Callable[[], Mapping[str, float]]) -> None:
        """Called every reaper round: starts a heartbeat or a retention sweep when one is due."""
        now = self._monotonic()
        if now >= self._next_beat:
            self._next_beat = now + self._settings.heartbeat_interval_s
            sessions = dict(live())
            if sessions:
                self._spawn(self._beat(sessions))
        if self.archive is not None and now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL_S
            self._spawn(self._sweep(self.archive))

    async def _beat(self, sessions: dict[str, float]) -> None:
        try:
            await self.store.touch_sessions(sessions)
        except StorageUnavailable:
            log.warning("session heartbeat not stored")

    async def _sweep(self, archive: AudioArchive) -> None:
        removed = await asyncio.to_thread(archive.sweep)
        if removed:
            log.info("audio retention: %d files past their retention period deleted", removed)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Waits for background writes; the store itself belongs to whoever opened it."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
