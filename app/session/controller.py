"""One streaming session: audio in, partial and final results out.

The controller owns all of a session's state (decoder, buffer, VAD, segmenter,
hypotheses) and drives it through ports: two :class:`~app.transcript.Transcriber`
ports (realtime and main model) and an ``emit`` callback for server messages.
It does no I/O of its own and takes an injected clock, so it runs the same in
the file mode, in unit tests with fakes, and inside a Ray session host.

Ordering guarantees: messages of one utterance come as ``speech_started``,
``partial_result``\\*, ``utterance_end``, ``final_result``; finals come in
utterance order with ``seq`` 1, 2, 3 …; a partial or final only ever holds
words of its own utterance (each call covers only that utterance's audio, and
a partial that returns after its utterance ended is dropped).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable

import numpy as np

from app import protocol as p
from app.audio import RingBuffer, make_decoder
from app.config import ServerSettings
from app.errors import AudioBeforeStart, AudioError, AudioTooFast, InvalidState
from app.metrics import Metrics, NullMetrics
from app.options import SessionOptions
from app.session.finals import FinalJob, FinalWorker, Speculation, speculation_end
from app.session.language import SessionLanguage
from app.session.partials import PartialRunner, Utterance
from app.session.ports import Clock, Emit, Ports, Preparing, SystemClock, TurnTracker
from app.session.timeline import Timeline
from app.streaming.policy import PartialPolicy
from app.streaming.scheduler import LocalRealtime, RealtimePort
from app.transcript import SAMPLE_RATE, Audio
from app.vad import EndReason, Segmenter, SpeechStart, UtteranceEnd, VoiceDetector

log = logging.getLogger(__name__)


class SessionState(enum.Enum):
    CREATED = "created"
    STREAMING = "streaming"
    PAUSED = "paused"
    STOPPING = "stopping"
    ENDED = "ended"


_ALLOWED: dict[str, tuple[SessionState, ...]] = {
    "start_stream": (SessionState.CREATED,),
    "stop_stream": (SessionState.STREAMING, SessionState.PAUSED),
    "pause_stream": (SessionState.STREAMING,),
    "resume_stream": (SessionState.PAUSED,),
    "configure": (SessionState.STREAMING, SessionState.PAUSED),
    "finalize": (SessionState.STREAMING, SessionState.PAUSED),
    "keep_alive": (SessionState.CREATED, SessionState.STREAMING, SessionState.PAUSED),
}


class StreamSession:
    def __init__(
        self,
        session_id: str,
        *,
        settings: ServerSettings,
        ports: Ports,
        emit: Emit,
        clock: Clock | None = None,
        enforce_realtime: bool = True,
        metrics: Metrics | None = None,
        first_seq: int = 1,
        stream_offset_s: float = 0.0,
        on_audio: Callable[[Audio], None] | None = None,
    ) -> None:
        """``first_seq``: the seq of this session's next final (above 1 when a stored session
        is resumed after a restart); ``stream_offset_s``: the stream time its first sample has
        (the audio the stored session had before); ``on_audio``: sees every decoded frame, paused
        ones included (audio retention); it must not block."""
        self.session_id = session_id
        self.settings = settings
        self.options: SessionOptions = settings.default_options
        self.state = SessionState.CREATED
        self._ports = ports
        self._emit = emit
        self._clock = clock or SystemClock()
        self._metrics: Metrics = metrics or NullMetrics()
        self._enforce_realtime = enforce_realtime
        limits = settings.limits
        self._ring = RingBuffer(int(limits.max_buffer_s * SAMPLE_RATE), drop_oldest=True)
        self._timeline = Timeline(self._clock.now())
        self._utt: Utterance | None = None
        self._lock = asyncio.Lock()  # audio and commands are applied one at a time
        self._language = SessionLanguage(settings.default_options, settings.partial_fallback)
        realtime = ports.realtime
        self._partials = PartialRunner(
            session_id,
            realtime=realtime if isinstance(realtime, RealtimePort) else LocalRealtime(realtime),
            main=ports.main,
            language=self._language,
            enrichers=ports.partial_enrichers,
            emit=emit,
            clock=self._clock,
            metrics=self._metrics,
            policy=PartialPolicy(
                min_interval=int(settings.partial_min_interval_s * SAMPLE_RATE),
                max_interval=int(settings.partial_max_interval_s * SAMPLE_RATE),
            ),
            lock=self._lock,
            context=lambda: (self.options, self._timeline),
            read=self._ring.read,
            audio_end=lambda: self._ring.end_offset,
            current=lambda: self._utt,
            last_speech_end=lambda: self._segmenter.last_speech_end,
            previous_text=lambda: self._finals.last_text,
            tail_only=settings.partials_tail_only,
            commit_margin=int(settings.partial_commit_margin_s * SAMPLE_RATE),
            timeout_s=settings.realtime_model.timeout_s,
        )
        self._finals = FinalWorker(
            session_id,
            ports=ports,
            emit=emit,
            clock=self._clock,
            metrics=self._metrics,
            first_seq=first_seq,
            request_for=self._language.final_request,
            context=lambda: (self.options, self._timeline),
            falling_behind_s=limits.falling_behind_s,
            heard=self._language.final_heard,
            timeout_s=settings.main_model.timeout_s,
            retry_timeout_s=settings.main_model.retry_timeout_s,
        )
        stages = (*ports.enrichers, *ports.partial_enrichers)
        self._tracker = next((s for s in stages if isinstance(s, TurnTracker)), None)
        self._stream_offset = round(stream_offset_s * SAMPLE_RATE)
        self._on_audio = on_audio
        self.started_at = self._clock.monotonic()
        self.last_activity = self.started_at
        self._received_samples = 0
        self._extra_burst_s = 0.0  # granted to a resume that re-sends the audio its client kept

    # ------------------------------------------------------------------ public API

    @property
    def finals_sent(self) -> int:
        return self._finals.seq

    @property
    def audio_seconds(self) -> float:
        return self._timeline.seconds(self._ring.end_offset)

    async def handle(self, msg: p.ClientMessage) -> None:
        """Apply one client command; bad state raises :class:`InvalidState`."""
        async with self._lock:
            self.last_activity = self._clock.monotonic()
            if self.state not in _ALLOWED[msg.type]:
                raise InvalidState(f"{msg.type} is not allowed while the session is {self.state.value}")
            match msg:
                case p.StartStream():
                    await self._start(msg)
                case p.StopStream():
                    await self._stop("stopped")
                case p.PauseStream():
                    await self._end_utterance("pause")
                    self.state = SessionState.PAUSED
                case p.ResumeStream():
                    self.state = SessionState.STREAMING
                case p.Configure():
                    await self._configure(msg)
                case p.Finalize():
                    await self._end_utterance("finalize")
                case p.KeepAlive():
                    pass

    async def feed(self, data: bytes) -> None:
        """One frame of client audio. Bad audio raises an :class:`AudioError`; the
        frame is dropped and the session goes on."""
        async with self._lock:
            self.last_activity = self._clock.monotonic()
            if self.state in (SessionState.STOPPING, SessionState.ENDED):
                raise InvalidState("the stream has been stopped; start a new session to send more audio")
            if self.state is SessionState.CREATED:
                raise AudioBeforeStart("audio before start_stream; start the stream first")
            samples = self._decoder.feed(data)
            if not len(samples):  # a header, a partial packet: nothing decoded yet
                return
            self._check_pace(len(samples))
            if self._on_audio is not None:
                self._on_audio(samples)
            self._metrics.count("audio_seconds", len(samples) / SAMPLE_RATE)
            if self.state is SessionState.PAUSED:
                self._timeline.add_gap(self._ring.end_offset, len(samples))
                return
            await self._process(samples)

    def allow_burst(self, seconds: float) -> None:
        """A resume re-sends the audio its client kept: that much more may come at once."""
        self._extra_burst_s += seconds

    def skip_audio(self, samples_at_rate: int) -> None:
        """Audio its client sent that never arrived and cannot be sent again (``samples_at_rate``
        samples at the session's own rate): stream time counts it, as it counts paused audio."""
        rate = self.options.audio.sample_rate
        self._timeline.add_gap(self._ring.end_offset, round(samples_at_rate * SAMPLE_RATE / rate))

    async def stop(self, reason: str = "stopped") -> None:
        """Flush and end: every utterance gets its final before ``session_ended``."""
        async with self._lock:
            if self.state in (SessionState.STREAMING, SessionState.PAUSED):
                await self._stop(reason)

    async def abort(self) -> None:
        """Drop everything without a flush (server shutdown)."""
        self._partials.cancel()
        self._finals.cancel()
        self.state = SessionState.ENDED

    # ------------------------------------------------------------------ commands

    async def _start(self, msg: p.StartStream) -> None:
        self.options = msg.options
        self._language.configure(msg.options)
        self._decoder = make_decoder(msg.options.audio, self.settings.limits)
        self._timeline = Timeline(msg.audio_start or self._clock.now())
        self._timeline.add_gap(0, self._stream_offset)  # a resumed stream goes on from where it was
        self._new_vad()
        self.started_at = self._clock.monotonic()
        self._finals.start()
        self._prepare_stages()
        self.state = SessionState.STREAMING
        audio = msg.options.audio
        await self._emit(
            p.SessionStarted(
                session_id=self.session_id,
                audio=p.AudioFormat(sample_rate=audio.sample_rate, encoding=audio.encoding, channels=audio.channels),
                options=msg.options,
            )
        )

    async def _stop(self, reason: str) -> None:
        self.state = SessionState.STOPPING
        try:
            tail = self._decoder.flush()
        except AudioError:
            # an undecodable stream was reported when its bytes came; the stop must still end it
            tail = np.zeros(0, np.float32)
        if self._on_audio is not None and len(tail):
            self._on_audio(tail)
        if len(tail):
            await self._process(tail)
        await self._end_utterance("stop")
        self._partials.cancel()
        await self._finals.close()
        self.state = SessionState.ENDED
        await self._emit(
            p.SessionEnded(
                session_id=self.session_id,
                reason=reason,
                audio_duration=self.audio_seconds,
                finals=self._finals.seq,
            )
        )

    async def _configure(self, msg: p.Configure) -> None:
        new = self.options.merged(msg.options)
        if new.audio != self.options.audio:
            raise InvalidState("audio format cannot change during a stream; start a new session")
        vad_changed = new.vad != self.options.vad
        self.options = new
        self._language.configure(new)
        self._prepare_stages()
        if vad_changed:
            self._detector.reconfigure(new.vad)
            self._segmenter.reconfigure(new.vad)

    def _prepare_stages(self) -> None:
        for stage in {id(s): s for s in (*self._ports.enrichers, *self._ports.partial_enrichers)}.values():
            if isinstance(stage, Preparing):
                stage.prepare(self.options)

    def _new_vad(self) -> None:
        self._detector = VoiceDetector(self.options.vad, start_offset=self._ring.end_offset)
        self._segmenter = Segmenter(self.options.vad, start_offset=self._ring.end_offset)

    # ------------------------------------------------------------------ audio path

    def _check_pace(self, n: int) -> None:
        self._received_samples += n
        if not self._enforce_realtime:
            return
        limits = self.settings.limits
        elapsed = self._clock.monotonic() - self.started_at
        allowed = elapsed * limits.max_realtime_factor + limits.realtime_burst_s + self._extra_burst_s
        if self._received_samples / SAMPLE_RATE > allowed:
            self._received_samples -= n
            raise AudioTooFast(
                f"audio is arriving faster than {limits.max_realtime_factor:g}x real time "
                f"(after a {limits.realtime_burst_s:g} s allowance); this frame was dropped"
            )

    async def _process(self, samples: Audio) -> None:
        if not len(samples):
            return
        self._ring.write(samples)
        for decision in self._detector.push(samples):
            for event in self._segmenter.push(decision.is_speech, decision.end, confident=decision.confident):
                await self._on_segment_event(event)
        if (quiet := self._detector.quiet_tail()) is not None:  # the undecided remainder is silence
            for event in self._segmenter.quiet_until(quiet):
                await self._on_segment_event(event)
        await self._track_speaker()
        self._release()
        self._partials.maybe_ask()
        self._maybe_speculate()

    async def _on_segment_event(self, event: SpeechStart | UtteranceEnd) -> None:
        if isinstance(event, SpeechStart):
            self._utt = Utterance(event.utterance_id, event.start)
            self._partials.policy.reset()
            await self._emit(
                p.SpeechStarted(
                    session_id=self.session_id,
                    utterance_id=event.utterance_id,
                    audio_start=self._timeline.seconds(event.start),
                    timestamp=self._timeline.wall_time(event.start),
                )
            )
        else:
            await self._finish_utterance(event.utterance_id, event.start, event.end, event.reason)

    async def _track_speaker(self) -> None:
        """The speaker tracker (diarization) may end the utterance in progress where the speaker changed."""
        utt = self._utt
        if self._tracker is None or utt is None:
            return
        if not self._enforce_realtime:  # audio faster than real time: no window may be skipped
            await self._tracker.settle()
        at = self._tracker.track(utt.id, utt.start, self._ring.end_offset, self._ring.read, self.options)
        if at is not None:
            for event in self._segmenter.split(at):
                await self._on_segment_event(event)

    async def _end_utterance(self, reason: EndReason) -> None:
        for event in self._segmenter.force_end(self._ring.end_offset, reason):
            await self._on_segment_event(event)

    async def _finish_utterance(self, utterance_id: int, start: int, end: int, reason: str) -> None:
        speculation = self._utt.speculation if self._utt is not None else None
        self._utt = None
        start = max(start, self._ring.start_offset)
        end = min(end, self._ring.end_offset)
        audio = self._ring.read(start, end) if end > start else np.zeros(0, np.float32)
        ready = None
        if speculation is not None:
            if speculation.end == end and speculation.start == start:
                ready = speculation.task
            else:
                speculation.task.cancel()
        await self._emit(
            p.UtteranceEnd(
                session_id=self.session_id,
                utterance_id=utterance_id,
                audio_end=self._timeline.seconds(end),
                reason=reason,
            )
        )
        self._finals.submit(FinalJob(utterance_id, start, end, audio, self._clock.monotonic(), ready))

    def _maybe_speculate(self) -> None:
        """Start the main model on the utterance once a silence begins that may end it."""
        utt = self._utt
        if utt is None or not self.settings.speculative_finals:
            return
        end = speculation_end(
            utterance_start=utt.start,
            last_speech_end=self._segmenter.last_speech_end,
            audio_end=self._ring.end_offset,
            current=utt.speculation,
        )
        if end is None:
            return
        if utt.speculation is not None:
            utt.speculation.task.cancel()  # speech came back: that guess is stale
        request = self._language.final_request(self._ring.read(utt.start, end))
        utt.speculation = Speculation.launch(self._ports.main, request, utt.start, end)

    def _release(self) -> None:
        keep = self._segmenter.keep_from if self._utt is None else self._utt.start
        self._ring.release(max(self._ring.released_offset, min(keep, self._ring.end_offset)))
