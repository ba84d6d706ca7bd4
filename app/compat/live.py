"""A vendor socket's session on the session core: the standalone-audio-socket flow, driven directly
through the :class:`~app.service.ports.HostPort` (start, feed, command, poll).

The vendor adapters (Deepgram, AssemblyAI) own their socket and its wire format; a
:class:`LiveSession` owns the session behind it: it starts the session on the host its id hashes
to (counting the client's sessions against ``max_sessions_per_client``), re-cuts the audio into
frames the host takes (whole samples, at most the frame limit: the vendors' clients send any
size), forwards commands, and yields the session's messages until ``session_ended``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import protocol as p
from app.config import ServerSettings
from app.metrics import Metrics
from app.options import SessionOptions
from app.service.admission import after_start, before_start
from app.service.ports import Directory, HostPort
from app.session.ids import new_session_id

POLL_TIMEOUT_S = 20.0


class LiveSession:
    def __init__(self, directory: Directory, settings: ServerSettings, metrics: Metrics, client_id: str) -> None:
        self.directory = directory
        self.settings = settings
        self.metrics = metrics
        self.client_id = client_id
        self.session_id = new_session_id()
        self.options: SessionOptions | None = None
        self.close_code = 1000  # once ended: the host's close code for the end reason
        self.bytes_received = 0
        self.stopping = False
        self._host: HostPort = directory.host_for(self.session_id)
        self._cursor = 0
        self._pending = b""
        self._align = 1
        self._frame = settings.limits.max_frame_bytes

    @property
    def started(self) -> bool:
        return self.options is not None

    async def check_capacity(self) -> None:
        """The client's session limit and the service's capacity, before a start (an early refusal)."""
        await before_start(self.directory, self.client_id, self.settings.limits)

    async def start(self, options: SessionOptions) -> None:
        """Starts the session; raises the host's :class:`~app.errors.SttError` (too many sessions, at
        capacity …)."""
        await self.check_capacity()
        start = p.StartStream(options=options)
        reply = await self._host.start(self.session_id, self.client_id, start.model_dump_json(), standalone=True)
        # the check and the start are an await apart: of parallel starts the first ones are kept
        await after_start(self.directory, self._host, self.session_id, self.client_id, self.settings.limits)
        self._cursor = reply.cursor
        self.options = options
        audio = options.audio
        limits = self.settings.limits
        if audio.encoding == "pcm_s16le":
            self._align, self._frame = 2 * audio.channels, limits.max_frame_bytes
        elif audio.encoding in ("pcm_mulaw", "pcm_alaw"):
            self._align, self._frame = audio.channels, limits.max_frame_bytes
        else:  # a container: any cut works
            self._align, self._frame = 1, limits.max_encoded_frame_bytes
        self._frame -= self._frame % self._align
        self.metrics.count("sessions_started")

    async def feed(self, data: bytes) -> None:
        """Audio of any length: whole samples go on in frames of at most the limit, a split sample
        waits for the next call."""
        self.bytes_received += len(data)
        self.metrics.count("audio_bytes", float(len(data)))
        buffer = self._pending + data if self._pending else data
        usable = len(buffer) - len(buffer) % self._align
        self._pending = buffer[usable:]
        for i in range(0, usable, self._frame):
            await self._host.feed(self.session_id, self.client_id, buffer[i : min(usable, i + self._frame)])

    async def command(self, msg: p.ClientMessage) -> None:
        await self._host.command(self.session_id, self.client_id, msg.model_dump_json())

    async def stop(self) -> None:
        """Flush: every utterance gets its final, then ``session_ended`` (once; later calls do nothing)."""
        if self.started and not self.stopping:
            self.stopping = True
            await self.command(p.StopStream())

    async def messages(self) -> AsyncIterator[p.ServerMessage]:
        """The session's messages in order, up to and including ``session_ended``."""
        while True:
            reply = await self._host.poll(self.session_id, self.client_id, self._cursor, POLL_TIMEOUT_S)
            for index, raw in reply.messages:
                self._cursor = index
                yield p.parse_server_message(raw)
            if reply.ended:
                self.close_code = reply.close_code
                return
