"""A stream's outgoing audio: frames on the audio socket, and what a resume sends again.

:class:`AudioOut` counts every byte it is given (the stream's ``audio_bytes``), keeps what a resume
may need (:class:`~app.client.resume.KeptAudio`), and sends while it is *live*. While the stream
resumes it is not: audio is only kept, and :meth:`AudioOut.resend` later sends, paced, everything
kept from the offset the server takes audio from, then goes live again.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection

from app.client.audio import split_frames
from app.client.resume import KeptAudio


class AudioOut:
    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.ws: ClientConnection | None = None
        self.total = 0  # bytes given: the stream's audio_bytes
        self.kept: KeptAudio | None = None
        self.live = False  # frames go to the socket as they come
        self.taking = True  # false once the session takes no more audio (it is ending)

    def attach(self, ws: ClientConnection) -> None:
        """Send on ``ws`` from now on (a fresh stream, or a resume with nothing to send again)."""
        self.ws, self.live = ws, True

    def detach(self) -> None:
        """The socket went away: keep, don't send, until the resume."""
        self.live = False

    async def send(self, data: bytes) -> None:
        """Count and keep ``data`` and, while live, send it in frames of at most ``max_frame_bytes``
        (``ConnectionClosed`` when the socket closes under it: what it was sending is kept)."""
        self.total += len(data)
        if self.kept is not None:
            self.kept.append(data)
        if not self.live or not self.taking or self.ws is None:
            return
        for frame in split_frames(data, self.max_frame_bytes):
            await self.ws.send(frame)

    async def resend(self, ws: ClientConnection, offset: int, speed: float) -> int:
        """Send the kept audio from ``offset`` on ``ws`` at ``speed`` times real time, including what
        is given meanwhile, then go live; returns the bytes sent again."""
        kept = self.kept
        self.ws = ws
        if kept is None:
            self.live = True
            return 0
        pos = first = min(max(offset, kept.start), kept.end)
        kept.pinned = pos
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            while pos < kept.end:
                chunk = kept.read(pos, min(self.max_frame_bytes, kept.end - pos))
                await ws.send(chunk)
                pos += len(chunk)
                kept.pinned = pos
                ahead = began + (pos - first) / kept.bytes_per_second / speed - loop.time()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            kept.pinned = None
        self.live = True  # no await since the loop's last check: nothing was given in between
        return pos - first
