"""The enrichment stages with fake model ports: what they fill, in which order, and that a
feature that is off calls nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import numpy as np

from app import protocol as p
from app.enrich.enrichers import Enrichment
from app.enrich.settings import EnrichmentSettings
from app.options import SessionOptions, parse_session_options
from app.session.ports import FinalEnricher, PartialEnricher
from app.transcript import Audio
from tests.fakes.enrichment import KeywordAnalyzer, ToneEmbedder, tone

ALL_ON: dict[str, Any] = {
    "features": {
        "speaker_diarization": True,
        "sentiment_analysis": {"enabled": True},
        "topic_detection": {"enabled": True, "topics": ["sports", "weather"]},
        "profanity_filter": {"enabled": True},
        "wake_words": {"enabled": True, "phrases": ["hey computer"]},
    }
}
TS = datetime(2026, 1, 1, tzinfo=UTC)


def words_over(text: str, start_s: float, seconds: float) -> list[p.Word]:
    parts = text.split()
    step = seconds / len(parts)
    return [
        p.Word(word=w, start=round(start_s + i * step, 3), end=round(start_s + (i + 0.8) * step, 3), confidence=0.9)
        for i, w in enumerate(parts)
    ]


def final(text: str, start_s: float, seconds: float, utterance_id: int = 1) -> p.FinalResult:
    return p.FinalResult(
        session_id="s",
        utterance_id=utterance_id,
        seq=utterance_id,
        data=p.FinalData(
            text=text,
            confidence=0.9,
            audio=p.AudioSpan(start=start_s, end=start_s + seconds, duration=seconds),
            timestamp=TS,
            words=words_over(text, start_s, seconds),
        ),
    )


def partial(text: str, seconds: float, utterance_id: int = 1) -> p.PartialResult:
    return p.PartialResult(
        session_id="s",
        utterance_id=utterance_id,
        data=p.PartialData(
            text=text,
            stable_text=text,
            confidence=0.9,
            timestamp=TS,
            audio_start=0.0,
            audio_current=seconds,
            words=words_over(text, 0.0, seconds),
        ),
    )


class Stages:
    def __init__(self, options: dict[str, Any] | None = None, **fakes: Any) -> None:
        self.embedder = fakes.get("embedder") or ToneEmbedder()
        self.analyzer = fakes.get("analyzer") or KeywordAnalyzer()
        self.finals: list[FinalEnricher]
        self.partials: list[PartialEnricher]
        enrichment = Enrichment(EnrichmentSettings(), self.embedder, self.analyzer)
        self.finals, self.partials = enrichment.for_session()
        self.options: SessionOptions = parse_session_options(options if options is not None else ALL_ON)

    async def final(self, msg: p.FinalResult, audio: Audio) -> p.FinalResult:
        for stage in self.finals:
            msg = await stage.enrich(msg, audio, self.options)
        return msg

    async def partial(self, msg: p.PartialResult, audio: Audio) -> p.PartialResult:
        for stage in self.partials:
            msg = await stage.enrich_partial(msg, audio, self.options)
        return msg


async def test_features_off_cost_nothing_and_change_nothing() -> None:
    stages = Stages({})
    f = final("hey computer I love this shit", 0.0, 3.0)
    assert await stages.final(f, tone(200, 3.0)) == f
    pr = partial("hey computer shit", 2.0)
    assert await stages.partial(pr, tone(200, 2.0)) == pr
    await asyncio.sleep(0.01)
    assert stages.embedder.calls == 0 and stages.analyzer.calls == 0


async def test_speakers_are_stable_for_the_session() -> None:
    stages = Stages({"features": {"speaker_diarization": True}})
    labels = []
    for i, hz in enumerate((200, 1000, 200, 1000)):
        out = await stages.final(final("one two three four", 3.0 * i, 2.5, i + 1), tone(hz, 2.5))
        assert out.data.speakers is not None
        (detail,) = out.data.speakers.details
        labels.append(detail.id)
        assert {w.speaker for w in out.data.words} == {detail.id}
        assert detail.segments[0].start >= 3.0 * i and detail.speaking_time > 1.5
    assert labels == ["speaker_1", "speaker_2", "speaker_1", "speaker_2"]


async def test_a_change_of_voice_inside_an_utterance_gives_two_speakers() -> None:
    stages = Stages({"features": {"speaker_diarization": True}})
    audio = np.concatenate([tone(200, 3.0), tone(1000, 3.0)])
    out = await stages.final(final("a b c d e f g h i j k l", 10.0, 6.0), audio)
    assert out.data.speakers is not None and out.data.speakers.count == 2
    first, second = out.data.speakers.details
    assert (first.id, second.id) == ("speaker_1", "speaker_2")
    assert abs(first.segments[0].end - 13.0) < 0.6 and abs(second.segments[0].start - 13.0) < 0.6
    assert [w.speaker for w in out.data.words][:4] == ["speaker_1"] * 4
    assert [w.speaker for w in out.data.words][-4:] == ["speaker_2"] * 4


async def test_partials_guess_the_speaker_without_waiting() -> None:
    stages = Stages({"features": {"speaker_diarization": True}})
    await stages.final(final("one two three", 0.0, 2.5, 1), tone(200, 2.5))
    await stages.final(final("four five six", 3.0, 2.5, 2), tone(1000, 2.5))
    first = await stages.partial(partial("hello there", 1.0, 3), tone(200, 1.0))
    assert first.data.speaker == "speaker_2"  # no embedding back yet: the last final's speaker
    await asyncio.sleep(0.01)  # the background embedding of the partial's last window returns
    second = await stages.partial(partial("hello there you", 1.2, 3), tone(200, 1.2))
    assert second.data.speaker == "speaker_1" and {w.speaker for w in second.data.words} == {"speaker_1"}
    assert stages.embedder.calls == 3  # one per final, one for the partial (no new one for 0.2 s more)


async def test_a_failing_model_costs_its_field_not_the_final() -> None:
    stages = Stages(embedder=ToneEmbedder(fail=True), analyzer=KeywordAnalyzer(fail=True))
    out = await stages.final(final("hey computer I love this shit", 0.0, 3.0), tone(200, 3.0))
    assert out.data.speakers is None and out.data.analysis == p.Analysis()
    assert out.data.wake_word_detected and out.data.filters.profanity.detected  # the in-process stages still ran


async def test_all_features_fill_the_final_and_analysis_reads_the_unmasked_text() -> None:
    stages = Stages()
    out = await stages.final(final("Hey computer. I love sports. This shit rains.", 0.0, 4.0), tone(200, 4.0))
    d = out.data
    assert d.speakers is not None and d.speakers.count == 1
    assert d.analysis.sentiment is not None and d.analysis.sentiment.by_sentence[1].sentiment == "positive"
    assert d.analysis.topics is not None and [t.topic for t in d.analysis.topics] == ["sports"]
    assert d.analysis.topics[0].mentions == ["I love sports."]
    assert d.wake_word_detected
    assert d.text == "Hey computer. I love sports. This s*** rains."
    assert d.filters.profanity == p.Profanity(detected=True, filtered_words=["shit"])
    assert [w.word for w in d.words][-2:] == ["s***", "rains."]
    (request,) = stages.analyzer.requests
    assert "This shit rains." in request.sentiment_texts  # analysed before masking
    assert d.analysis.sentiment.by_sentence[2].text == "This s*** rains."  # and masked where it is quoted


async def test_wake_word_fires_on_the_first_partial_that_hears_it_and_on_the_final() -> None:
    stages = Stages({"features": {"wake_words": {"enabled": True, "phrases": ["hey computer"]}}})
    assert not (await stages.partial(partial("hey", 0.5), tone(200, 0.5))).data.wake_word_detected
    assert (await stages.partial(partial("hey computer", 1.0), tone(200, 1.0))).data.wake_word_detected
    assert not (await stages.partial(partial("hey computer lights", 1.5), tone(200, 1.5))).data.wake_word_detected
    # the main model heard it differently, but a partial of this utterance heard the phrase
    assert (await stages.final(final("Hay commuter lights.", 0.0, 2.0), tone(200, 2.0))).data.wake_word_detected
    assert not (await stages.final(final("Lights off.", 3.0, 1.0, 2), tone(200, 1.0))).data.wake_word_detected


async def test_partials_are_masked_too_and_configure_takes_effect() -> None:
    stages = Stages({"features": {"profanity_filter": {"enabled": True, "extra_words": ["darn"]}}})
    out = await stages.partial(partial("oh darn shit", 1.0), tone(200, 1.0))
    assert out.data.text == "oh d*** s***" and out.data.stable_text == "oh d*** s***"
    assert [w.word for w in out.data.words] == ["oh", "d***", "s***"]
    stages.options = stages.options.merged({"features": {"profanity_filter": {"enabled": False}}})
    assert (await stages.partial(partial("oh darn shit", 1.0), tone(200, 1.0))).data.text == "oh darn shit"
