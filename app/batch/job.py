"""Pre-recorded transcription: a whole file through the main model in batches, stored as a session.

:meth:`BatchTranscriber.transcribe` decodes the upload once, cuts it into utterances at its pauses
(:mod:`app.batch.cut`), and sends every utterance to the main model's Transcriber port at once (at
most ``prerecorded.concurrency`` in flight), so that the model deployment's batcher gathers them
into batches: nothing goes through the realtime model or the live-session machinery. Each
utterance's transcript passes the live path's guards and its enrichment stages (diarization,
sentiment, topics, wake words, profanity, as the options turn on), in utterance order, and the
whole is stored as one ended session, with a final per utterance, exactly as a stream's would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from app import protocol as p
from app.audio.files import decode_upload
from app.audio.g711 import g711_to_float
from app.audio.pcm import pcm16_to_float
from app.audio.resample import resample
from app.batch.cut import Span, cut
from app.config import ServerSettings
from app.enrich.enrichers import Enrichment
from app.errors import AudioTooLong, StorageUnavailable, TooManyJobs, UndecodableAudio
from app.options import SessionOptions
from app.session import results
from app.session.ids import new_session_id
from app.session.language import SessionLanguage
from app.session.ports import Clock, FinalEnricher, SystemClock
from app.session.timeline import Timeline
from app.store import TranscriptStore
from app.streaming.guards import clean
from app.transcript import SAMPLE_RATE, Audio, Transcriber, Transcript

log = logging.getLogger(__name__)

OnFinal = Callable[[p.FinalResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RawFormat:
    """Headerless audio: its encoding, rate and channels (a container carries its own)."""

    encoding: str  # pcm_s16le, pcm_mulaw, pcm_alaw
    sample_rate: int
    channels: int = 1


@dataclass(frozen=True, slots=True)
class BatchRequest:
    client_id: str
    data: bytes
    options: SessionOptions
    raw: RawFormat | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A decoded upload cut into utterances, ready for the model."""

    request: BatchRequest
    audio: Audio
    spans: list[Span]
    created: datetime


@dataclass(frozen=True, slots=True)
class BatchResult:
    session_id: str
    created: datetime
    duration_s: float  # of the decoded audio
    sha256: str  # of the uploaded bytes
    finals: list[p.FinalResult] = field(default_factory=list)
    stored: bool = False


class BatchTranscriber:
    """One per process (an ingress replica; the in-process app). Safe to share between requests."""

    def __init__(
        self,
        settings: ServerSettings,
        main: Transcriber,
        *,
        enrichment: Enrichment | None = None,
        store: TranscriptStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.main = main
        self.enrichment = enrichment
        self.store = store
        self._clock = clock or SystemClock()
        self._running = 0

    async def transcribe(self, request: BatchRequest, *, on_final: OnFinal | None = None) -> BatchResult:
        """The file's finals in order (``on_final`` sees each as soon as it and every earlier one are
        ready). Raises :class:`UndecodableAudio`, :class:`AudioTooLong`, :class:`TooManyJobs`."""
        return await self.run(await self.prepare(request), on_final=on_final)

    async def prepare(self, request: BatchRequest) -> Prepared:
        """Decodes and cuts the file: what can be wrong with the upload is found here, before any
        transcription (a streamed response can still answer with an HTTP error)."""
        async with self._job():
            audio = await asyncio.to_thread(self._decode, request)
            spans = await asyncio.to_thread(cut, audio, request.options.vad)
        return Prepared(request, audio, spans, self._clock.now())

    async def run(self, job: Prepared, *, on_final: OnFinal | None = None) -> BatchResult:
        """Transcribes a prepared file and stores it."""
        async with self._job():
            return await self._run(job, on_final)

    @contextlib.asynccontextmanager
    async def _job(self) -> AsyncIterator[None]:
        limit = self.settings.prerecorded.max_jobs
        if self._running >= limit:
            raise TooManyJobs(f"this server transcribes {limit} files at once, its limit; retry shortly")
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1

    async def _run(self, job: Prepared, on_final: OnFinal | None) -> BatchResult:
        request, audio, spans, options = job.request, job.audio, job.spans, job.request.options
        session_id = new_session_id()
        timeline = Timeline(job.created)
        gate = asyncio.Semaphore(self.settings.prerecorded.concurrency)
        # language, task, key terms as a live session asks; the spans run at once, so with
        # language auto each one detects its own
        language = SessionLanguage(options)

        async def run(span: Span) -> Transcript:
            async with gate:
                return await self.main.transcribe(language.final_request(audio[span.start : span.end]))

        calls = [asyncio.create_task(run(span)) for span in spans]
        finals: list[p.FinalResult] = []
        enrichers = self._enrichers()
        try:
            for utterance_id, (span, call) in enumerate(zip(spans, calls, strict=True), start=1):
                final = self._final(session_id, utterance_id, len(finals) + 1, span, await call, timeline, options)
                if final is None:
                    continue
                for enricher in enrichers:
                    final = await enricher.enrich(final, audio[span.start : span.end], options)
                finals.append(final)
                if on_final is not None:
                    await on_final(final)
        finally:
            for call in calls:
                call.cancel()
        result = BatchResult(
            session_id=session_id,
            created=job.created,
            duration_s=round(len(audio) / SAMPLE_RATE, 3),
            sha256=hashlib.sha256(request.data).hexdigest(),
            finals=finals,
        )
        return await self._store(request, result)

    def _decode(self, request: BatchRequest) -> Audio:
        limit = self.settings.prerecorded.max_duration_s
        raw = request.raw
        if raw is None:
            return decode_upload(request.data, max_seconds=limit)
        width = 2 * raw.channels if raw.encoding == "pcm_s16le" else raw.channels
        data = request.data[: len(request.data) - len(request.data) % width]  # a cut-off last sample
        if len(data) / width / raw.sample_rate > limit:
            raise AudioTooLong(f"the audio is longer than the limit of {limit:g} seconds")
        if not data:
            raise UndecodableAudio("the request holds no audio samples")
        if raw.encoding == "pcm_s16le":
            samples = pcm16_to_float(data, raw.channels)
        else:
            samples = g711_to_float(data, "mulaw" if raw.encoding == "pcm_mulaw" else "alaw", raw.channels)
        return resample(samples, raw.sample_rate) if raw.sample_rate != SAMPLE_RATE else samples

    def _enrichers(self) -> list[FinalEnricher]:
        if self.enrichment is None:
            return []
        finals, _ = self.enrichment.for_session()  # the file's own speaker clusters, as a session's
        return finals

    @staticmethod
    def _final(
        session_id: str,
        utterance_id: int,
        seq: int,
        span: Span,
        transcript: Transcript,
        timeline: Timeline,
        options: SessionOptions,
    ) -> p.FinalResult | None:
        """The live path's final for this utterance (guards, word offsets, formatting)."""
        transcript = clean(transcript, span.end - span.start)
        at = span.start
        words = results.shift(transcript.words, at)
        text = results.join_words(words) if words else transcript.text
        if not text.strip():
            return None
        return results.final_result(
            session_id,
            utterance_id,
            seq,
            words=words,
            text=text,
            start=span.start,
            end=span.end,
            timeline=timeline,
            options=options,
            transcription_time=transcript.processing_s,
            language=transcript.language,
            language_probability=transcript.language_probability,
        )

    async def _store(self, request: BatchRequest, result: BatchResult) -> BatchResult:
        """An ended session with its finals, as a stream leaves it; a store that is down costs the stored
        copy, never the answer (logged)."""
        if self.store is None:
            return result
        try:
            await self.store.start_session(
                result.session_id,
                request.client_id,
                options=request.options.model_dump(mode="json"),
                audio_start=result.created,
            )
            # together: the store's group commit makes them one transaction
            await asyncio.gather(*(self.store.save_final(final) for final in result.finals))
            await self.store.end_session(result.session_id, reason="stopped", audio_duration=result.duration_s)
        except StorageUnavailable:
            log.warning("pre-recorded transcript not stored", extra={"session_id": result.session_id})
            return result
        return replace(result, stored=True)
