"""Optional audio retention: each session's audio as FLAC files, deleted after a retention period.

Off by default (``store.audio_retention.enabled``). What is kept is the audio the session decoded,
16 kHz mono, paused spans included, so a file's time is the stream's time: a final's
``audio.start``/``audio.end`` index into it. Layout::

    <dir>/s-<session_id>/<offset_ms>.flac

one file per run of the session: ``0.flac`` from the start, and after a resume on another host
(a restart) a file named by the stream time it starts at. The recorder is off the audio path:
``write`` only appends samples; every couple of seconds of audio a background task encodes them in a
worker thread (PyAV). If the disk falls behind by more than ``max_pending_s`` of audio, older
unwritten audio is dropped with a log line: retention never slows transcription down. A file cut
short by a crash still decodes; only its duration header is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from app.config import StoreSettings
from app.transcript import SAMPLE_RATE, Audio

log = logging.getLogger(__name__)


class AudioArchive:
    def __init__(self, directory: Path, retention_days: float, *, now: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.retention_s = retention_days * 86400.0
        self._now = now

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> AudioArchive | None:
        """The archive the settings ask for; None when retention is off."""
        if not (settings.enabled and settings.audio_retention.enabled):
            return None
        return cls(settings.audio_dir, settings.audio_retention.retention_days)

    def session_dir(self, session_id: str) -> Path:
        # the prefix keeps ids such as ".." ordinary folder names
        return self.directory / f"s-{session_id}"

    def recorder(self, session_id: str, offset_s: float = 0.0) -> AudioRecorder:
        return AudioRecorder(self.session_dir(session_id) / f"{round(offset_s * 1000)}.flac")

    def files(self, session_id: str) -> list[Path]:
        return sorted(self.session_dir(session_id).glob("*.flac"), key=lambda f: (len(f.stem), f.stem))

    def delete(self, session_id: str) -> bool:
        """Removes the session's audio (blocking: call it in a thread); False when there was none."""
        folder = self.session_dir(session_id)
        if not folder.exists():
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def sweep(self) -> int:
        """Deletes files older than the retention period and empty session folders (blocking)."""
        cutoff = self._now() - self.retention_s
        removed = 0
        if not self.directory.is_dir():
            return 0
        for folder in self.directory.glob("s-*"):
            for file in folder.glob("*.flac"):
                with contextlib.suppress(FileNotFoundError):
                    if file.stat().st_mtime < cutoff:
                        file.unlink()
                        removed += 1
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return removed


class AudioRecorder:
    def __init__(self, path: Path, *, chunk_s: float = 2.0, max_pending_s: float = 120.0) -> None:
        self.path = path
        self._chunk = int(chunk_s * SAMPLE_RATE)
        self._max_pending = max(1, int(max_pending_s / chunk_s))
        self._buffer: list[Audio] = []
        self._buffered = 0
        self._pending: deque[Audio] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._container: Any = None
        self._stream: Any = None
        self.dropped_s = 0.0

    def write(self, samples: Audio) -> None:
        """Audio decoded by the session (float32, 16 kHz mono); never blocks."""
        if self._closing or not len(samples):
            return
        self._buffer.append(samples)
        self._buffered += len(samples)
        if self._buffered >= self._chunk:
            self._hand_off()

    async def close(self) -> None:
        """Writes what is left and finishes the file."""
        if self._closing:
            return
        self._closing = True
        if self._buffered:
            self._hand_off()
        if self._task is not None:
            self._ready.set()
            await self._task

    def _hand_off(self) -> None:
        chunk = np.concatenate(self._buffer)
        self._buffer, self._buffered = [], 0
        if len(self._pending) >= self._max_pending:
            dropped = self._pending.popleft()
            self.dropped_s += len(dropped) / SAMPLE_RATE
            log.warning("audio retention fell behind; %.1f s of audio not kept", len(dropped) / SAMPLE_RATE)
        self._pending.append(chunk)
        self._ready.set()
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=f"audio-{self.path.parent.name}")

    async def _drain(self) -> None:
        try:
            while True:
                while self._pending:
                    await asyncio.to_thread(self._encode, self._pending.popleft())
                if self._closing:
                    break
                self._ready.clear()
                await self._ready.wait()
        except Exception:
            log.exception("audio retention failed; this session's audio is not kept")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._finish)

    def _encode(self, chunk: Audio) -> None:
        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w", format="flac")
            self._stream = self._container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        pcm = (np.clip(chunk, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _finish(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
