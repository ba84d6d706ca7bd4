"""One session's speaker tracker: sliding window embeddings of the utterance in progress, and the
speaker changes they confirm (:mod:`app.enrich.turns`).

The session calls :meth:`SpeakerTracker.observe` after each chunk of an utterance's audio. Once
``hop_s`` of new audio has come (and no call of this session is in flight), the latest
``window_s`` is embedded in the background: the Diarizer gathers these one-window requests of
every session into its batches. When an answer was slow (the Diarizer waking from zero replicas, an
overloaded machine), the next call carries every window due since, so no turn goes unseen. A
window's answer goes to the :class:`ChangeDetector`; a change
it confirms is handed to the session at its next chunk, moved to the quietest 20 ms within
``snap_s`` (between two speakers there is usually a short pause). The session then ends the
utterance there and starts the next one at that point; the windows after it are the new turn's
first, so the tracker goes on without starting over.

A failed or late call costs that window only: the tracker never holds up the audio path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np

from app.enrich import diarization as dz
from app.enrich.clustering import normalize
from app.enrich.ports import Embedder, EmbedRequest
from app.enrich.turns import ChangeDetector, ChangeParams, Window, quietest
from app.transcript import SAMPLE_RATE, Audio

log = logging.getLogger(__name__)

#: windows one call may carry: after a stall (20 s at the default hop), the tracker catches up on these
MAX_CATCH_UP = 100


class SpeakerTracker:
    def __init__(
        self,
        embedder: Embedder,
        params: ChangeParams,
        *,
        timeout_s: Callable[[], float],
        answered: Callable[[], None] = lambda: None,
    ) -> None:
        self.params = params
        self._embedder = embedder
        self._timeout_s = timeout_s
        self._answered = answered
        self._detector = ChangeDetector(params)
        self._window = int(params.window_s * SAMPLE_RATE)
        self._hop = max(1, int(params.hop_s * SAMPLE_RATE))
        self._utterance: int | None = None
        self._split_at: int | None = None  # where the last change the session took ended an utterance
        self._next_end = 0  # the next window ends at or after this
        self._change: int | None = None  # a confirmed change the session has not taken yet
        self._task: asyncio.Task[None] | None = None
        self.latest: Window | None = None  # the latest window embedded in the current turn
        self.windows_embedded = 0

    @property
    def utterance_id(self) -> int | None:
        return self._utterance

    def observe(self, utterance_id: int, start: int, end: int, read: Callable[[int, int], Audio]) -> int | None:
        """The utterance ``utterance_id`` (from ``start``) has audio up to ``end``; ``read`` gives the
        stream's samples. Returns a confirmed change point inside the utterance, once."""
        if utterance_id != self._utterance:
            self._begin(utterance_id, start)
        if self._change is not None:
            at, self._change = self._change, None
            at = self._snap(at, start, end, read)
            if start < at < end:
                self._split_at = at
                return at
            return None
        if self._task is None and end >= self._next_end and end - start >= self._window:
            # every window due since the last one (several after a slow answer, a Diarizer waking up),
            # the latest ending now; in one call
            n = min(MAX_CATCH_UP, 1 + (end - self._next_end) // self._hop)
            ends = [end - k * self._hop for k in reversed(range(n)) if end - k * self._hop - self._window >= start]
            first = ends[0] - self._window
            try:
                audio = read(first, end)
            except Exception:  # the buffer no longer holds it (an overflowing session)
                return None
            self._next_end = end + self._hop
            self._task = asyncio.create_task(self._embed(first, ends, audio), name="speaker-tracker")
        return None

    def _begin(self, utterance_id: int, start: int) -> None:
        self._utterance = utterance_id
        self._change = None
        self._detector.reset(start)
        if start != self._split_at:  # after a pause: a new turn from scratch
            self._next_end = start + self._window
        if self.latest is not None and self.latest.start < start:
            self.latest = None
        self._split_at = None

    def _snap(self, at: int, start: int, end: int, read: Callable[[int, int], Audio]) -> int:
        reach = int(self.params.snap_s * SAMPLE_RATE)
        lo, hi = max(at - reach, start), min(at + reach, end)
        if hi <= lo:
            return at
        try:
            return quietest(read(lo, hi), lo, at, reach)
        except Exception:
            return at

    async def _embed(self, first: int, ends: list[int], audio: Audio) -> None:
        """Embeds the windows ending at ``ends`` of ``audio`` (which starts at ``first``), each
        loudness-normalised on its own, as the windows of a partial's guess are."""
        spans = [(e - self._window - first, e - first) for e in ends]
        samples = np.concatenate([dz.normalize_loudness(audio[a:b]) for a, b in spans])
        request = EmbedRequest(samples, tuple((k * self._window, (k + 1) * self._window) for k in range(len(spans))))
        try:
            rows = await asyncio.wait_for(self._embedder.embed(request), self._timeout_s())
            self._answered()
        except Exception:
            log.debug("speaker tracking windows failed", exc_info=True)
            return
        finally:
            self._task = None
        self.windows_embedded += len(ends)
        for e, row in zip(ends, rows, strict=True):
            window = Window(e - self._window, e, normalize(row))
            if window.start < self._detector.turn_start:
                continue  # asked before a change or a new utterance: it reaches into the turn before
            self.latest = window
            change = self._detector.add(window)
            if change is not None and self._change is None:
                self._change = change

    async def settle(self) -> None:
        task = self._task
        if task is not None:
            await asyncio.wait([task])

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
