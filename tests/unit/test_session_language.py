"""Languages, translation and key terms through the session core, with scripted models.

The fakes behave like the real engines do (``app/engines/whisper.py``): an English-only model
answers a ``strict_language`` request for another language (or to detect one) with an empty,
``language_supported=False`` transcript; a multilingual one detects when asked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.config import ServerSettings
from app.options import SessionOptions
from app.session.controller import Ports, StreamSession
from app.session.language import MIN_DETECT_S, SessionLanguage
from app.streaming.policy import MAX_OUTSTANDING
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript
from tests.fakes.models import FakeClock, ScriptedTranscriber

CHUNK = 3200


class LanguageModel(ScriptedTranscriber):
    """Scripted words; ``english_only`` like tiny.en, else it "hears" ``spoken``."""

    def __init__(self, *, english_only: bool, spoken: str = "de", probability: float = 0.97) -> None:
        super().__init__()
        self.english_only = english_only
        self.spoken = spoken
        self.probability = probability
        self.requests: list[TranscribeRequest] = []

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        self.requests.append(request)
        if self.english_only and request.strict_language and request.language != "en":
            return Transcript(text="", no_speech_prob=1.0, language_supported=False)
        t = await super().transcribe(request)
        if self.english_only:
            return Transcript(text=t.text, words=t.words, avg_logprob=t.avg_logprob, language="en")
        detected = request.language is None
        return Transcript(
            text=t.text,
            words=t.words,
            avg_logprob=t.avg_logprob,
            language=self.spoken if detected else request.language,
            language_probability=self.probability if detected else None,
        )


class Run:
    def __init__(self, realtime: LanguageModel, main: LanguageModel, **settings: object) -> None:
        self.messages: list[p.ServerMessage] = []
        self.clock = FakeClock()
        self.realtime, self.main = realtime, main

        async def emit(msg: p.ServerMessage) -> None:
            self.messages.append(msg)

        self.session = StreamSession(
            "s1",
            settings=ServerSettings.model_validate(settings),
            ports=Ports(realtime=realtime, main=main),
            emit=emit,
            clock=self.clock,
            enforce_realtime=False,
        )

    async def stream(self, audio: np.ndarray, **options: object) -> None:
        await self.session.handle(p.StartStream(options=SessionOptions.model_validate(options)))
        pcm = to_pcm16(audio)
        for i in range(0, len(pcm), CHUNK):
            self.clock.t += 0.1
            await self.session.feed(pcm[i : i + CHUNK])
            await asyncio.sleep(0)
        await self.session.handle(p.StopStream())

    def finals(self) -> list[p.FinalResult]:
        return [m for m in self.messages if isinstance(m, p.FinalResult)]

    def partials(self) -> list[p.PartialResult]:
        return [m for m in self.messages if isinstance(m, p.PartialResult)]


def speech(shared_data: Path, *names: str) -> np.ndarray:
    parts = [np.zeros(SAMPLE_RATE // 2, np.float32)]
    for name in names:
        parts += [load_audio(shared_data / "clips" / name), np.zeros(int(1.5 * SAMPLE_RATE), np.float32)]
    return np.concatenate(parts)


TWO = ("sb_spk1_snt1.wav", "sb_spk2_snt2.wav")


async def test_english_session_asks_for_english_and_reports_it(shared_data: Path) -> None:
    run = Run(LanguageModel(english_only=True), LanguageModel(english_only=False))
    await run.stream(speech(shared_data, *TWO))
    assert run.partials() and all(m.data.language == "en" for m in run.partials())
    assert [(f.data.language, f.data.language_probability) for f in run.finals()] == [("en", None)] * 2
    assert {r.language for r in run.main.requests} == {"en"}
    assert all(r.strict_language for r in run.realtime.requests)
    assert not any(r.strict_language for r in run.main.requests)


async def test_auto_detects_on_the_first_final_then_keeps_that_language(shared_data: Path) -> None:
    run = Run(LanguageModel(english_only=True), LanguageModel(english_only=False))
    await run.stream(speech(shared_data, *TWO), language="auto")
    started = run.messages[0]
    assert isinstance(started, p.SessionStarted) and started.options.language == "auto"
    finals = run.finals()
    assert [(f.data.language, f.data.language_probability) for f in finals] == [("de", 0.97), ("de", None)]
    final_languages = [r.language for r in run.main.requests if not r.strict_language and len(r.audio) > SAMPLE_RATE]
    assert final_languages[0] is None and final_languages[-1] == "de"  # detected once, then asked for


async def test_english_only_realtime_hands_other_languages_to_the_main_model(shared_data: Path) -> None:
    realtime = LanguageModel(english_only=True)
    run = Run(realtime, LanguageModel(english_only=False))
    await run.stream(speech(shared_data, *TWO), language="de")
    # tiny.en said it cannot do German (to the requests already out: at most MAX_OUTSTANDING);
    # every later partial came from the main model
    assert 1 <= len(realtime.requests) <= MAX_OUTSTANDING
    assert all(r.language == "de" and r.strict_language for r in realtime.requests)
    assert run.partials() and all(m.data.language == "de" for m in run.partials())
    assert all(f.data.language == "de" for f in run.finals())


async def test_partial_fallback_none_skips_partials_in_other_languages(shared_data: Path) -> None:
    run = Run(LanguageModel(english_only=True), LanguageModel(english_only=False), partial_fallback="none")
    await run.stream(speech(shared_data, *TWO), language="fr")
    assert run.partials() == []
    assert len(run.finals()) == 2
    assert all(r.language == "fr" for r in run.main.requests)


async def test_translate_applies_to_finals_partials_stay_in_the_spoken_language(shared_data: Path) -> None:
    run = Run(LanguageModel(english_only=False), LanguageModel(english_only=False))
    await run.stream(speech(shared_data, *TWO), language="de", task="translate")
    assert {r.task for r in run.main.requests} == {"translate"}
    assert {r.task for r in run.realtime.requests} == {"transcribe"}
    assert run.partials() and len(run.finals()) == 2


async def test_keyterms_and_prompt_reach_both_models(shared_data: Path) -> None:
    run = Run(LanguageModel(english_only=True), LanguageModel(english_only=False))
    await run.stream(speech(shared_data, *TWO), keyterms=["ComfyUI", "Kubernetes"], initial_prompt="A talk.")
    for request in [*run.realtime.requests, *run.main.requests]:
        assert request.keyterms == ("ComfyUI", "Kubernetes")
        # a partial's prompt goes on with the words committed before its tail
        assert request.initial_prompt is not None and request.initial_prompt.startswith("A talk.")
    assert {r.initial_prompt for r in run.main.requests} == {"A talk."}


async def test_configure_to_a_fixed_language_replaces_detection(shared_data: Path) -> None:
    run = Run(LanguageModel(english_only=True), LanguageModel(english_only=False, spoken="it"))
    await run.session.handle(p.StartStream(options=SessionOptions(language="auto")))
    first, second = (load_audio(shared_data / "clips" / name) for name in TWO)
    silence = np.zeros(int(1.5 * SAMPLE_RATE), np.float32)
    for audio, patch in ((first, {"language": "es"}), (second, None)):
        pcm = to_pcm16(np.concatenate([silence, audio, silence]))
        for i in range(0, len(pcm), CHUNK):
            run.clock.t += 0.1
            await run.session.feed(pcm[i : i + CHUNK])
            await asyncio.sleep(0)
        await run.session.handle(p.Finalize())
        if patch:
            await run.session.handle(p.Configure(options=patch))
    await run.session.handle(p.StopStream())
    finals = run.finals()
    assert [(f.data.language, f.data.language_probability) for f in finals] == [("it", 0.97), ("es", None)]


# ---------------------------------------------------------------------------- the state alone


def _final(language: str | None, probability: float | None, text: str = "words") -> Transcript:
    return Transcript(text=text, language=language, language_probability=probability)


def test_a_short_or_unsure_utterance_does_not_decide_the_session() -> None:
    state = SessionLanguage(SessionOptions(language="auto"))
    audio = np.zeros(int(2 * SAMPLE_RATE), np.float32)
    assert state.final_request(audio).language is None
    state.final_heard(_final("de", 0.99), samples=int(MIN_DETECT_S * SAMPLE_RATE) - 1)  # too short
    assert state.final_request(audio).language is None and state.known is not None
    assert state.known.language == "de"  # partials follow it meanwhile
    state.final_heard(_final("nl", 0.4), samples=2 * SAMPLE_RATE)  # unsure
    assert state.final_request(audio).language is None
    state.final_heard(_final("nl", 0.8, text=""), samples=2 * SAMPLE_RATE)  # nothing heard: learns nothing
    state.final_heard(_final("de", 0.9), samples=2 * SAMPLE_RATE)
    assert state.final_request(audio).language == "de"


def test_per_utterance_detection_never_locks() -> None:
    state = SessionLanguage(SessionOptions(language="auto", language_detection="per_utterance"))
    audio = np.zeros(2 * SAMPLE_RATE, np.float32)
    state.final_heard(_final("de", 0.99), samples=5 * SAMPLE_RATE)
    assert state.final_request(audio).language is None
    assert state.known is not None and state.known.language == "de"
    assert state.partial_request(audio, "realtime").language == "de"


def test_fixed_language_ignores_detections_and_routes_partials() -> None:
    state = SessionLanguage(SessionOptions(language="ja"), fallback="none")
    audio = np.zeros(SAMPLE_RATE, np.float32)
    state.final_heard(_final("zh", 0.99), samples=5 * SAMPLE_RATE)
    assert state.final_request(audio).language == "ja"
    assert state.partial_route() == "realtime"
    request = state.partial_request(audio, "realtime")
    assert not state.partial_heard(request, Transcript(text="", language_supported=False))
    assert state.partial_route() is None
