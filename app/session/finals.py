"""A session's finals: one worker that transcribes finished utterances in order, and speculation.

Each finished utterance becomes a :class:`FinalJob` on the session's :class:`FinalWorker`, which
runs them one at a time (finals go out in utterance order, ``seq`` 1, 2, 3 …): the main model,
the guards, the final enrichers, then ``emit``. A model call that fails or takes longer than the
main model's ``timeout_s`` is made once more (a new call, which Serve routes to a live replica: a
replica that died is replaced, and the retry waits up to ``retry_timeout_s`` for it); a job whose
retry fails too costs its utterance (``transcription_failed``), never the stream.

A :class:`Speculation` is a main-model call started during the silence that may end an utterance
(:func:`speculation_end` says when): if the utterance does end there, its final needs no new call,
and the wait for ``post_speech_silence`` hides the model's latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from app import protocol as p
from app.errors import FallingBehind, TranscriptionFailed
from app.logsample import SampledLog
from app.metrics import Metrics
from app.options import SessionOptions
from app.session import results
from app.session.ports import Clock, Emit, FollowingUp, Ports
from app.session.timeline import Timeline
from app.streaming.guards import clean
from app.transcript import SAMPLE_RATE, Audio, Transcriber, TranscribeRequest, Transcript
from app.vad import TAIL_PAD_S

log = logging.getLogger(__name__)
_sampled = SampledLog(log)

TAIL_PAD = round(TAIL_PAD_S * SAMPLE_RATE)
#: silence after which a speculative final starts (the segmenter's tail pad must have passed)
SPECULATE_AFTER = max(TAIL_PAD, round(0.25 * SAMPLE_RATE))
#: an utterance shorter than this (0.1 s) gets no final
MIN_FINAL_SAMPLES = SAMPLE_RATE // 10


@dataclass(frozen=True, slots=True)
class Speculation:
    """A main-model call already made on the utterance's audio ``[start, end)``."""

    start: int
    end: int
    task: asyncio.Task[Transcript]

    @classmethod
    def launch(cls, main: Transcriber, request: TranscribeRequest, start: int, end: int) -> Speculation:
        task = asyncio.create_task(_call(main, request))
        task.add_done_callback(_consume)
        return cls(start, end, task)


def speculation_end(
    *, utterance_start: int, last_speech_end: int | None, audio_end: int, current: Speculation | None
) -> int | None:
    """Where a new speculation should end, or None: once a silence has lasted :data:`SPECULATE_AFTER`,
    at the last speech plus the segmenter's tail pad (where a silence end would put the utterance's end)."""
    if last_speech_end is None:
        return None
    end = last_speech_end + TAIL_PAD
    if audio_end - last_speech_end < SPECULATE_AFTER or audio_end < end or end <= utterance_start:
        return None
    if current is not None and current.end == end:
        return None
    return end


@dataclass(frozen=True, slots=True)
class FinalJob:
    utterance_id: int
    start: int
    end: int
    audio: Audio
    ended_at: float  # monotonic time the utterance end was found
    speculation: asyncio.Task[Transcript] | None = None  # a call already made on exactly this audio


class FinalWorker:
    """Runs a session's final jobs in order. ``context`` gives the session's current options and
    timeline (``configure`` may change the options between two finals); ``request_for`` builds the
    main model's request for an utterance's audio; ``heard`` sees each transcript and its audio's
    length (the session's language state learns from it)."""

    def __init__(
        self,
        session_id: str,
        *,
        ports: Ports,
        emit: Emit,
        clock: Clock,
        metrics: Metrics,
        first_seq: int,
        request_for: Callable[[Audio], TranscribeRequest],
        context: Callable[[], tuple[SessionOptions, Timeline]],
        falling_behind_s: float = 3.0,
        heard: Callable[[Transcript, int], None] | None = None,
        timeout_s: float = 30.0,
        retry_timeout_s: float = 120.0,
    ) -> None:
        self.session_id = session_id
        self._ports = ports
        self._emit = emit
        self._clock = clock
        self._metrics = metrics
        self._request_for = request_for
        self._context = context
        self._heard = heard
        self._following = [s for s in ports.enrichers if isinstance(s, FollowingUp)]
        self._queue: asyncio.Queue[FinalJob | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._seq = first_seq - 1
        #: the model's text of the last final delivered (before enrichment), the next utterance's
        #: context for partials (app.streaming.tail.prompt_for)
        self.last_text: str | None = None
        self._falling_behind_s = falling_behind_s
        self._behind = False  # warned, until the finals catch up (lag under half the bound)
        self._timeout_s = timeout_s
        self._retry_timeout_s = retry_timeout_s

    @property
    def seq(self) -> int:
        """The seq of the last final delivered."""
        return self._seq

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"finals-{self.session_id}")

    def submit(self, job: FinalJob) -> None:
        self._queue.put_nowait(job)

    async def close(self) -> None:
        """Finish every job submitted so far, then stop."""
        await self._queue.put(None)
        if self._task is not None:
            await self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while (job := await self._queue.get()) is not None:
            await self._check_lag(job, delivered=False)
            try:
                await self._final(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                # a model that fails on every utterance must not log a traceback for each one
                _sampled.exception("final", "final transcription failed", extra={"session_id": self.session_id})
                error = TranscriptionFailed(
                    f"utterance {job.utterance_id} could not be transcribed; the stream goes on"
                )
                self._metrics.count("errors", code=error.code)
                await self._emit(p.Error.of(self.session_id, error))

    async def _final(self, job: FinalJob) -> None:
        if len(job.audio) < MIN_FINAL_SAMPLES:
            return
        t0 = self._clock.monotonic()
        transcript = clean(await self._transcribe(job), len(job.audio))
        if self._heard is not None:  # the session learns the language the model detected
            self._heard(transcript, len(job.audio))
        elapsed = self._clock.monotonic() - t0
        words = results.shift(transcript.words, job.start)
        text = results.join_words(words) if words else transcript.text
        if not text.strip():
            return
        options, timeline = self._context()
        seq = self._seq + 1  # taken only once the final is out: session_ended counts what was delivered
        final = results.final_result(
            self.session_id,
            job.utterance_id,
            seq,
            words=words,
            text=text,
            start=job.start,
            end=job.end,
            timeline=timeline,
            options=options,
            transcription_time=elapsed,
            language=transcript.language,
            language_probability=transcript.language_probability,
        )
        for enricher in self._ports.enrichers:
            final = await enricher.enrich(final, job.audio, options)
        await self._emit(final)
        self._seq = seq
        self.last_text = text
        for stage in self._following:  # e.g. a speaker_revision of earlier finals
            for msg in stage.follow_ups(seq):
                await self._emit(msg)
        self._metrics.observe("final_latency_s", self._clock.monotonic() - job.ended_at)
        await self._check_lag(job, delivered=True)

    async def _transcribe(self, job: FinalJob) -> Transcript:
        """The main model's transcript of the job's audio: the speculation's answer or a new call, and
        when that fails or times out, a second call (its failure is raised)."""
        request = self._request_for(job.audio)
        first = job.speculation if job.speculation is not None else self._ports.main.transcribe(request)
        try:
            return await asyncio.wait_for(first, self._timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
            _sampled.warning(
                "final-retry", "main model call %s; retrying once", what, extra={"session_id": self.session_id}
            )
        return await asyncio.wait_for(self._ports.main.transcribe(request), self._retry_timeout_s)

    async def _check_lag(self, job: FinalJob, *, delivered: bool) -> None:
        """A ``falling_behind`` warning once the finals lag the audio by more than the bound, whether a
        job waited that long or its final took it; once an episode: again only after a final came
        within half the bound."""
        lag = self._clock.monotonic() - job.ended_at
        if lag > self._falling_behind_s and not self._behind:
            self._behind = True
            warning = FallingBehind(
                f"finals are {lag:.1f} s behind the audio (more than {self._falling_behind_s:g} s): "
                "the server is overloaded; results will come late"
            )
            self._metrics.count("errors", code=warning.code)
            await self._emit(p.Warning_.of(self.session_id, warning))
        elif delivered and lag < self._falling_behind_s / 2:
            self._behind = False


async def _call(transcriber: Transcriber, request: TranscribeRequest) -> Transcript:
    return await transcriber.transcribe(request)


def _consume(task: asyncio.Task[Transcript]) -> None:
    # a speculation nobody awaits (speech resumed) must not log "exception never retrieved"
    if not task.cancelled():
        task.exception()
