"""The microphone as an async source of PCM16 chunks, through the optional ``sounddevice`` package.

``sounddevice`` (PortAudio) is not a dependency of the service: ``pip install sounddevice`` where
a microphone is wanted. Its callback runs on PortAudio's thread; chunks cross to the event loop
through a bounded queue, and when the loop falls behind the oldest chunk is dropped (a live
microphone cannot wait) and counted.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

from app.client.errors import SttClientError

SAMPLE_RATE = 16000
QUEUE_CHUNKS = 50  # 5 s of 100 ms chunks


class MicUnavailable(SttClientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="mic_unavailable")


def load_sounddevice() -> Any:
    try:
        return importlib.import_module("sounddevice")
    except ImportError as exc:
        raise MicUnavailable("--mic needs the 'sounddevice' package (and PortAudio): pip install sounddevice") from exc
    except OSError as exc:  # the package is there but PortAudio is not
        raise MicUnavailable(f"--mic: PortAudio could not be loaded ({exc}); install libportaudio2") from exc


class Microphone:
    """``async for chunk in Microphone(...)``: 16 kHz mono PCM16 in ``chunk_ms`` chunks until :meth:`stop`."""

    def __init__(self, *, chunk_ms: float = 100.0, device: str | int | None = None, backend: Any = None) -> None:
        self.chunk_ms = chunk_ms
        self.device = device
        self._sd = backend if backend is not None else load_sounddevice()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self.dropped_chunks = 0

    def stop(self) -> None:
        """End the iteration after the chunks already captured."""
        self._put(None)

    def _put(self, item: bytes | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped_chunks += 1
        self._queue.put_nowait(item)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            loop.call_soon_threadsafe(self._put, bytes(indata))

        try:
            stream = self._sd.RawInputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=int(SAMPLE_RATE * self.chunk_ms / 1000),
                device=self.device,
                callback=callback,
            )
        except (getattr(self._sd, "PortAudioError", OSError), ValueError) as exc:  # ValueError: unknown device
            raise MicUnavailable(f"cannot open the microphone: {exc}") from exc
        with stream:
            while (chunk := await self._queue.get()) is not None:
                yield chunk
