"""Tail-only partials (app.session.partials + app.streaming.tail) with a scripted model: each call hears
only the audio after the committed words, yet stable_text never changes, committed words are never
repeated or dropped, and a model that never settles cannot make the tail grow without bound."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from app import protocol as p
from app.metrics import NullMetrics
from app.options import SessionOptions
from app.session.partials import MAX_TAIL, PartialRunner, Utterance
from app.session.timeline import Timeline
from app.streaming.policy import PartialPolicy
from app.streaming.scheduler import PartialReply, PartialRequest
from app.transcript import SAMPLE_RATE, Transcript, WordTiming
from tests.fakes.models import FakeClock

WORD = SAMPLE_RATE // 3  # a word every 1/3 s
TRUTH = [f"w{i}" for i in range(60)]  # 20 s of speech


def audio(start: int, end: int) -> np.ndarray:
    # every sample holds its own absolute offset, so the model knows where a call's audio begins
    return np.arange(start, end, dtype=np.float32)


class ScriptedTail:
    """The realtime port: hears the words wholly inside the call's audio. ``revise`` rewrites the
    newest heard word on every other call (an unstable tail); ``never_settle`` rewrites every word
    on every call (nothing ever agrees)."""

    def __init__(self, *, revise: bool = False, never_settle: bool = False, until: int | None = None) -> None:
        self.until = until  # no speech after this offset
        self.revise = revise
        self.never_settle = never_settle
        self.calls = itertools.count()
        self.windows: list[tuple[int, int, str | None]] = []

    async def partial(self, request: PartialRequest) -> PartialReply:
        n = next(self.calls)
        samples = request.request.audio
        start, end = int(samples[0]), int(samples[0]) + len(samples)
        self.windows.append((start, end, request.request.initial_prompt))
        words = []
        for i, text in enumerate(TRUTH):
            w_start, w_end = i * WORD + 800, (i + 1) * WORD - 800
            if w_start >= start - 400 and w_end <= end and (self.until is None or w_end <= self.until):
                words.append([text, w_start - start, w_end - start])
        if self.never_settle:
            words = [[f"{t}~{n}", s, e] for t, s, e in words]
        elif self.revise and words and n % 2:
            words[-1][0] += "-ish"
        await asyncio.sleep(0)
        timed = tuple(WordTiming(t, s, e, 0.9) for t, s, e in words)
        return PartialReply(Transcript(text=" ".join(w.text for w in timed), words=timed), 0.1)


async def stream(
    model: ScriptedTail,
    seconds: float = 20.0,
    speech_until: int | None = None,
    previous_text: str | None = None,
    options: SessionOptions | None = None,
) -> list[p.PartialResult]:
    shown: list[p.PartialResult] = []
    now = [0]
    utt = Utterance(1, 0)
    lock = asyncio.Lock()

    async def emit(msg: p.ServerMessage) -> None:
        assert isinstance(msg, p.PartialResult)
        shown.append(msg)

    runner = PartialRunner(
        "s",
        realtime=model,
        enrichers=(),
        emit=emit,
        clock=FakeClock(),
        metrics=NullMetrics(),
        policy=PartialPolicy(min_interval=SAMPLE_RATE // 5, max_interval=SAMPLE_RATE),
        lock=lock,
        context=lambda: (options or SessionOptions(), Timeline(FakeClock().now())),
        read=audio,
        audio_end=lambda: now[0],
        current=lambda: utt,
        last_speech_end=lambda: now[0] if speech_until is None else min(now[0], speech_until),
        previous_text=lambda: previous_text,
    )
    for _ in range(int(seconds * 10)):
        now[0] += SAMPLE_RATE // 10
        async with lock:
            runner.maybe_ask()
        for _ in range(4):
            await asyncio.sleep(0)
    return shown


def stable_words(partial: p.PartialResult) -> list[str]:
    return [w.word for w in partial.data.words if w.stable]


@pytest.mark.parametrize("revise", [False, True], ids=["steady", "unstable-tail"])
async def test_stable_text_only_grows_and_holds_each_word_once(revise: bool) -> None:
    model = ScriptedTail(revise=revise)
    shown = await stream(model)
    assert len(shown) > 20
    previous: list[str] = []
    for partial in shown:
        stable = stable_words(partial)
        assert stable[: len(previous)] == previous  # never changes, only grows
        assert partial.data.stable_text.lower().startswith(" ".join(previous).lower()[:1])
        previous = stable
    # every committed word is a spoken word, in order, once: none repeated, none skipped
    assert previous == TRUTH[: len(previous)]
    assert len(previous) >= len(TRUTH) - 6
    assert all("-ish" not in w for w in previous)


async def test_calls_hear_only_the_tail_and_are_prompted_with_the_committed_text() -> None:
    model = ScriptedTail()
    await stream(model)
    late = [(start, end, prompt) for start, end, prompt in model.windows if end > 10 * SAMPLE_RATE]
    assert late
    for start, end, prompt in late:
        assert end - start < 3 * SAMPLE_RATE  # not the utterance from its start
        assert prompt is not None and prompt.split()[-1].startswith("w")


async def test_a_model_that_never_settles_keeps_the_tail_bounded() -> None:
    model = ScriptedTail(never_settle=True)
    shown = await stream(model)
    assert max(end - start for start, end, _ in model.windows) <= MAX_TAIL + SAMPLE_RATE // 5
    # what was committed to bound the tail stays committed
    previous: list[str] = []
    for partial in shown:
        stable = stable_words(partial)
        assert stable[: len(previous)] == previous
        previous = stable
    assert previous  # words were committed as they stood


async def test_no_call_once_everything_heard_is_committed_and_silence_follows() -> None:
    until = 5 * SAMPLE_RATE
    model = ScriptedTail(until=until)
    shown = await stream(model, seconds=12.0, speech_until=until)
    heard = [w for i, w in enumerate(TRUTH) if (i + 1) * WORD - 800 <= until]
    assert stable_words(shown[-1]) == heard  # the last words were confirmed in the pause
    calls_in_silence = [end for _, end, _ in model.windows if end > until + 2 * SAMPLE_RATE]
    assert calls_in_silence == []  # then nothing new to hear: no calls (and nothing to hallucinate on)


PREVIOUS = "and so my fellow americans " * 10  # 270 characters: the prompt keeps the end, whole words


async def test_a_fresh_utterance_is_prompted_with_the_end_of_the_previous_final() -> None:
    model = ScriptedTail()
    await stream(model, seconds=3.0, previous_text=PREVIOUS)
    first_start, _, first_prompt = model.windows[0]
    assert first_start == 0  # nothing committed yet: the call hears the utterance from its start
    assert first_prompt is not None and PREVIOUS.strip().endswith(first_prompt)
    assert len(first_prompt) <= 120 and first_prompt.split()[0] in PREVIOUS.split()
    committed = [prompt for start, _, prompt in model.windows if start > 0]
    assert committed and all(prompt is not None and prompt.startswith("w") for prompt in committed)


async def test_no_previous_final_or_a_translated_one_gives_no_prompt() -> None:
    for previous, options in ((None, None), (PREVIOUS, SessionOptions.model_validate({"task": "translate"}))):
        model = ScriptedTail()
        await stream(model, seconds=1.0, previous_text=previous, options=options)
        fresh = [prompt for start, _, prompt in model.windows if start == 0]
        assert fresh and all(prompt is None for prompt in fresh)
