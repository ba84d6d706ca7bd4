"""A session's partials: when to ask the realtime model, what audio it hears, how its answer is shown.

The finals' twin (:mod:`app.session.finals`). While an utterance is in progress the session asks
for a partial whenever its :class:`~app.streaming.policy.PartialPolicy` says so; the request
covers only the tail after the committed words (:mod:`app.streaming.tail`) and goes to the
scheduler shared by every session (:mod:`app.streaming.scheduler`), which may supersede it with
the session's next one. An answer is applied under the session's lock, and dropped when its
utterance has ended meanwhile (the final covers it) or a newer answer was already applied.

The session's language (:mod:`app.session.language`) says which model a partial asks: the
realtime model (through the scheduler) while it can decode the language, else the main model
directly or no model at all (``partial_fallback``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.logsample import SampledLog
from app.metrics import Metrics
from app.options import SessionOptions
from app.session import results
from app.session.finals import Speculation
from app.session.language import Route, SessionLanguage
from app.session.ports import Clock, Emit, PartialEnricher
from app.session.timeline import Timeline
from app.streaming.agreement import LocalAgreement
from app.streaming.guards import clean, tidy_partial
from app.streaming.policy import PartialPolicy
from app.streaming.scheduler import PartialReply, PartialRequest, RealtimePort
from app.streaming.tail import Tail, has_new_speech, overdue_commit, plan_tail, prompt_for
from app.transcript import SAMPLE_RATE, Audio, Transcriber, Transcript

log = logging.getLogger(__name__)
_sampled = SampledLog(log)

#: the longest tail a partial decodes; past it the tentative words before it are committed
MAX_TAIL_S = 8.0
MAX_TAIL = round(MAX_TAIL_S * SAMPLE_RATE)


@dataclass(slots=True)
class Utterance:
    """The utterance in progress, as its partials and its final see it."""

    id: int
    start: int
    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    shown_end: int = -1  # audio end of the newest partial applied
    speculation: Speculation | None = None  # a main-model call made in a pause (app.session.finals)


@dataclass(frozen=True, slots=True)
class _Asked:
    utterance: Utterance
    end: int
    tail: Tail
    audio: Audio
    route: Route = "realtime"


class PartialRunner:
    def __init__(
        self,
        session_id: str,
        *,
        realtime: RealtimePort,
        enrichers: Sequence[PartialEnricher],
        emit: Emit,
        clock: Clock,
        metrics: Metrics,
        policy: PartialPolicy,
        lock: asyncio.Lock,
        context: Callable[[], tuple[SessionOptions, Timeline]],
        read: Callable[[int, int], Audio],
        audio_end: Callable[[], int],
        current: Callable[[], Utterance | None],
        last_speech_end: Callable[[], int | None],
        previous_text: Callable[[], str | None] = lambda: None,
        main: Transcriber | None = None,
        language: SessionLanguage | None = None,
        tail_only: bool = True,
        commit_margin: int = 0,
        timeout_s: float = 30.0,
    ) -> None:
        """``language``: the session's language state (the session's options, and no fallback to
        ``main`` when absent); ``main``: the main model, for partials the realtime model cannot make;
        ``commit_margin``: samples of audio a partial must have heard past a word's end before the word
        may become stable; ``timeout_s``: a call that takes longer is given up (its partial is not shown)."""
        self.session_id = session_id
        self._realtime = realtime
        self._main = main
        self._language = language or SessionLanguage(context()[0], "main" if main is not None else "none")
        self._enrichers = enrichers
        self._emit = emit
        self._clock = clock
        self._metrics = metrics
        self.policy = policy
        self._lock = lock
        self._context = context
        self._read = read
        self._audio_end = audio_end
        self._current = current
        self._last_speech_end = last_speech_end
        self._previous_text = previous_text  # the session's last final: a fresh utterance's prompt
        self._tasks: set[asyncio.Task[None]] = set()
        self.tail_only = tail_only
        self._commit_margin = commit_margin
        self._timeout_s = timeout_s

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def maybe_ask(self) -> None:
        """Ask for a partial of the utterance in progress if one is due (called under the session lock)."""
        utt, now = self._current(), self._audio_end()
        options, _ = self._context()
        route = self._language.partial_route()
        if utt is None or not options.features.interim_results or route is None:
            return
        if not self.policy.should_run(utt.start, now):
            return
        if self.tail_only:
            tail = plan_tail(utt.start, utt.agreement.stable)
            through = overdue_commit(tail, now, MAX_TAIL)
            if through is not None:  # agreed on nothing for too long: commit what stands, move on
                utt.agreement.commit_through(through)
                tail = plan_tail(utt.start, utt.agreement.stable)
                if now - tail.start > MAX_TAIL:  # no words heard there at all: nothing shown is lost
                    tail = Tail(now - MAX_TAIL, tail.committed_end, tail.prompt)
            if not has_new_speech(tail, self._last_speech_end(), tentative=bool(utt.agreement.tentative)):
                return  # nothing heard after the committed words: nothing new to show
        else:  # partials_tail_only false: the utterance from its start, as before
            tail = Tail(utt.start, utt.start, None)
        self.policy.started(now)
        # a translated final is English, not the words being spoken: no context for the partials
        previous = self._previous_text() if options.task == "transcribe" else None
        asked = _Asked(utt, now, tail, self._read(tail.start, now), route)
        request = self._language.partial_request(
            asked.audio, route, initial_prompt=prompt_for(options.initial_prompt, tail, previous)
        )
        waited = (now - (utt.shown_end if utt.shown_end >= 0 else utt.start)) / SAMPLE_RATE
        task = asyncio.create_task(self._run(asked, PartialRequest(self.session_id, request, waited)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, asked: _Asked, request: PartialRequest) -> None:
        t0 = self._clock.monotonic()
        try:
            if asked.route == "main" and self._main is not None:
                # no scheduler there: ask about as often as a call takes (the policy caps it)
                transcript = await asyncio.wait_for(self._main.transcribe(request.request), self._timeout_s)
                reply = PartialReply(transcript, interval_s=self._clock.monotonic() - t0)
            else:
                reply = await asyncio.wait_for(self._realtime.partial(request), self._timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            # a lost partial is harmless (the next one or the final covers it), and no retry: while a
            # replica is replaced the next partial's call waits for the new one. A model down fails every
            # partial of every session: sampled, so that the logs stay readable
            _sampled.log(
                logging.WARNING,
                "partial",
                "realtime transcription failed",
                exc_info=True,
                extra={"session_id": self.session_id},
            )
            self.policy.finished()
            return
        self.policy.finished(reply.interval_s)
        if reply.transcript is None:
            return  # superseded by this session's newer request
        self._metrics.observe("partial_latency_s", self._clock.monotonic() - t0)
        async with self._lock:
            utt = asked.utterance
            if self._current() is not utt or asked.end <= utt.shown_end:
                return  # its utterance ended (the final covers it), or a newer answer is shown
            if not self._language.partial_heard(request.request, reply.transcript):
                self.maybe_ask()  # the realtime model lacks the language: ask again, routed anew
                return
            await self._show(asked, reply.transcript)
            self.maybe_ask()

    async def _show(self, asked: _Asked, transcript: Transcript) -> None:
        utt, tail = asked.utterance, asked.tail
        heard = clean(transcript, len(asked.audio), continues=not tail.fresh)
        words = results.shift(tidy_partial(heard.words), tail.start)
        hyp = utt.agreement.update(words, from_start=tail.fresh, settled_by=asked.end - self._commit_margin)
        utt.shown_end = asked.end
        if not hyp.words:
            return
        options, timeline = self._context()
        partial = results.partial_result(
            self.session_id,
            utt.id,
            stable=hyp.stable,
            tentative=hyp.tentative,
            utterance_start=utt.start,
            current=asked.end,
            timeline=timeline,
            options=options,
            language=transcript.language,
            language_probability=transcript.language_probability,
        )
        audio = self._read(utt.start, asked.end)  # the stages see the utterance so far, as before
        for enricher in self._enrichers:
            partial = await enricher.enrich_partial(partial, audio, options)
        await self._emit(partial)
