"""WhisperEngine with the bundled tiny.en on real clips, in both windows and both batch strategies.

The first section tests the repetition cuts as pure functions (no model); the
rest loads real models, shared per module and keyed by (window, strategy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.audio.files import load_audio
from app.config import ModelSettings
from app.engines import WhisperEngine, WhisperTranscriber, whisper_window
from app.engines.repetition import cut_past_end, loop_start
from app.engines.whisper_window import generation_length
from app.transcript import SAMPLE_RATE, Audio, TranscribeRequest, Transcript

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
WINDOWS = ["full", "trimmed"]
EngineFor = Callable[..., WhisperEngine]  # (window, strategy="parallel", padding_s=10.0) -> a shared engine


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return float(jiwer.wer(normalize(reference), normalize(hypothesis) or "<empty>"))


# ---------------------------------------------------------------------------- repetition cuts (no model)


def words(text: str) -> list[str]:
    return text.split()


SENTENCE = words("A thin stripe runs down the middle .")


def test_loop_after_the_sentence_is_cut_to_one_copy() -> None:
    assert loop_start(SENTENCE * 5 + SENTENCE[:3], min_copies=3) == len(SENTENCE)


def test_two_copies_are_a_loop_only_when_the_decode_hit_its_cap() -> None:
    assert loop_start(SENTENCE * 2, min_copies=3) is None
    assert loop_start(SENTENCE * 2, min_copies=2) == len(SENTENCE)


def test_short_genuine_repeats_stay() -> None:
    assert loop_start(words("no , no , no ."), min_copies=3) is None
    dialogue = words("Do you hear me ? Yes . Do you hear me ? Yes . We laugh less heartily")
    assert loop_start(dialogue, min_copies=3) is None


def test_word_loops_and_case_and_punctuation() -> None:
    assert loop_start(["She", *["had"] * 40], min_copies=2) == 2
    assert loop_start(words("drop it . Drop it , drop it ; DROP it"), min_copies=3) == 3


def test_text_after_a_timestamp_past_the_end_is_cut() -> None:
    ts, eot = 1000, 900  # timestamp tokens start at 1000 (0.02 s each), text tokens are below eot
    tokens = [ts, 1, 2, 3, ts + 140, ts + 140, 1, 2, 3, ts + 200]  # <0.00> a b c <2.80><2.80> a b c <4.00>
    assert cut_past_end(tokens, ts, eot, audio_s=2.72) == [ts, 1, 2, 3]
    assert cut_past_end(tokens, ts, eot, audio_s=5.0) == tokens
    assert cut_past_end([ts, 1, 2, ts + 300], ts, eot, audio_s=2.0) == [ts, 1, 2, ts + 300]  # nothing follows


def test_generation_length_lets_a_decode_write_the_tokens_asked_for() -> None:
    # CTranslate2 stops at max_length - prompt + 1 new tokens and at max_length / 2
    assert generation_length(1, 20, 448) == (40, 20)
    assert generation_length(30, 20, 448) == (49, 20)
    assert generation_length(200, 300, 448) == (448, 224)  # the model's own bound wins


# ---------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def engine_for() -> Iterator[EngineFor]:
    engines: dict[tuple[str, str, float], WhisperEngine] = {}

    def get(window: str, strategy: str = "parallel", padding_s: float = 10.0) -> WhisperEngine:
        key = (window, strategy, padding_s)
        if key not in engines:
            engines[key] = WhisperEngine(
                ModelSettings.model_validate(
                    {"window": window, "batch_strategy": strategy, "window_padding_s": padding_s}
                )
            )
        return engines[key]

    yield get
    for engine in engines.values():
        engine.close()


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Callable[[str], Audio]:
    cache: dict[str, Audio] = {}

    def get(name: str) -> Audio:
        if name not in cache:
            cache[name] = load_audio(shared_data / "clips" / name)
        return cache[name]

    return get


def assert_words_well_formed(t: Transcript, n_samples: int) -> None:
    assert t.words, "no word timings"
    assert normalize(" ".join(w.text for w in t.words)) == normalize(t.text)
    previous_start = 0
    for word in t.words:
        assert isinstance(word.start, int) and isinstance(word.end, int)
        assert previous_start <= word.start <= word.end <= n_samples
        assert 0.0 <= word.probability <= 1.0
        previous_start = word.start


@pytest.mark.model
@pytest.mark.parametrize("window", WINDOWS)
def test_jfk(window: str, engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    audio = clip("jfk.flac")
    t = engine_for(window).transcribe(TranscribeRequest(audio=audio))
    assert wer(JFK, t.text) <= 0.1, t.text
    assert t.text == t.text.strip()
    assert_words_well_formed(t, audio.shape[0])
    assert t.words[0].start < SAMPLE_RATE  # speech starts at once
    assert t.words[-1].end > 9 * SAMPLE_RATE  # and ends near 10.5 s of 11
    assert t.no_speech_prob < 0.3
    assert -1.0 < t.avg_logprob < 0.0
    assert 0.5 < t.compression_ratio < 2.4
    assert t.processing_s > 0.0


@pytest.mark.model
@pytest.mark.parametrize("window", WINDOWS)
def test_silence_is_empty_with_high_no_speech_probability(window: str, engine_for: EngineFor) -> None:
    for audio in (np.zeros(3 * SAMPLE_RATE, np.float32), np.random.default_rng(1).normal(0, 1e-3, 3 * SAMPLE_RATE)):
        t = engine_for(window).transcribe(TranscribeRequest(audio=audio.astype(np.float32)))
        assert len(t.text.split()) <= 1, t.text
        assert t.no_speech_prob > 0.6


@pytest.mark.model
@pytest.mark.parametrize("window", WINDOWS)
def test_empty_and_very_short_audio_skip_the_model(window: str, engine_for: EngineFor) -> None:
    engine = engine_for(window)
    for n in (0, 1, SAMPLE_RATE // 10 - 1):
        t = engine.transcribe(TranscribeRequest(audio=np.zeros(n, np.float32)))
        assert (t.text, t.words, t.processing_s) == ("", (), 0.0)
    assert engine.transcribe_batch([]) == []


@pytest.mark.model
@pytest.mark.parametrize("window", WINDOWS)
def test_stacked_batch_equals_one_by_one(window: str, engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    audios = [clip(name) for name in ("jfk.flac", "sb_spk1_snt1.wav", "LDC93S1.wav")]
    requests = [TranscribeRequest(audio=a) for a in audios]
    alone = [engine_for(window, "parallel").transcribe(r) for r in requests]
    stacked = engine_for(window, "stacked").transcribe_batch(requests)
    for one, batched, audio in zip(alone, stacked, audios, strict=True):
        assert batched.text == one.text
        assert_words_well_formed(batched, audio.shape[0])
        assert [w.text for w in batched.words] == [w.text for w in one.words]
        # clips share the longest window in a stacked batch: timings may move by a frame or two
        assert max(abs(a.start - b.start) for a, b in zip(batched.words, one.words, strict=True)) <= SAMPLE_RATE // 10
    assert len({t.processing_s for t in stacked}) == 1  # one call for the batch


@pytest.mark.model
def test_stacked_batch_with_mixed_prompts_and_lengths(engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    jfk, dog = clip("jfk.flac"), clip("sb_spk1_snt1.wav")
    requests = [
        TranscribeRequest(audio=dog, initial_prompt="A sentence about a child and a dog."),
        TranscribeRequest(audio=np.zeros(100, np.float32)),
        TranscribeRequest(audio=jfk),
    ]
    alone = [engine_for("trimmed", "parallel").transcribe(r) for r in requests]
    stacked = engine_for("trimmed", "stacked").transcribe_batch(requests)
    assert [t.text for t in stacked] == [t.text for t in alone]
    assert stacked[1].text == ""
    assert "child" in stacked[0].text.lower()


@pytest.mark.model
def test_parallel_batch_keeps_order(engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    engine = engine_for("trimmed")
    audios = [clip(name) for name in ("sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "jfk.flac", "LDC93S1.wav")]
    alone = [engine.transcribe(TranscribeRequest(audio=a)).text for a in audios]
    assert [t.text for t in engine.transcribe_batch([TranscribeRequest(audio=a) for a in audios])] == alone


@pytest.mark.model
def test_trimmed_window_falls_back_to_full_beyond_30_s(engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    audio = clip("two_cities.wav")  # 44 s
    t = engine_for("trimmed").transcribe(TranscribeRequest(audio=audio))
    assert t.text.lower().startswith("it was the best of times")
    assert_words_well_formed(t, audio.shape[0])
    assert t.words[-1].end > 35 * SAMPLE_RATE


@pytest.mark.model
def test_word_timestamps_can_be_turned_off(engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    t = engine_for("trimmed").transcribe(TranscribeRequest(audio=clip("sb_spk1_snt1.wav"), word_timestamps=False))
    assert t.text and t.words == ()


@pytest.mark.model
async def test_async_transcriber_matches_the_engine(engine_for: EngineFor, clip: Callable[[str], Audio]) -> None:
    engine = engine_for("trimmed")
    r = TranscribeRequest(audio=clip("sb_spk2_snt5.wav"))
    transcriber = WhisperTranscriber(engine)
    assert (await transcriber.transcribe(r)).text == engine.transcribe(r).text


@pytest.mark.model
@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("sb_spk1_snt4.wav", "a thin stripe runs down the middle"),
        ("sb_spk2_snt3.wav", "tear a thin sheet from the yellow pad"),
        ("LDC93S1.wav", "she had your dark suit in greasy wash water all year"),
    ],
)
def test_short_padding_does_not_repeat_the_sentence(
    name: str, reference: str, engine_for: EngineFor, clip: Callable[[str], Audio]
) -> None:
    # with 2 s of padding tiny.en writes these sentences again and again until its cap (measured)
    engine = engine_for("trimmed", "parallel", 2.0)
    audio = clip(name)
    t = engine.transcribe(TranscribeRequest(audio=audio))
    assert wer(reference, t.text) <= 0.4, t.text  # tiny.en mishears a word or two here in any window
    assert len(normalize(t.text).split()) <= len(reference.split()) + 1, t.text
    assert t.processing_s < 5.0


@pytest.mark.model
def test_a_loaded_engine_caps_numpys_blas_pool_at_its_cpu_threads(engine_for: EngineFor) -> None:
    from threadpoolctl import threadpool_info

    engine_for("trimmed")  # its settings: cpu_threads 1
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy has no BLAS pool to cap"
    assert all(pool["num_threads"] == 1 for pool in blas), blas


# the end of "ask not what your country" after the speech before it as a prompt: tiny.en loops on it
LOOPING_PROMPT = "And so my fellow Americans, ask not what your country"


def jfk_windows(audio: Audio) -> Iterator[tuple[Audio, str | None]]:
    for start_s in (0.3, 5.5, 8.5):
        for seconds in (0.5, 1.0, 3.0):
            window = audio[int(start_s * SAMPLE_RATE) : int((start_s + seconds) * SAMPLE_RATE)]
            yield window, None
            yield window, LOOPING_PROMPT


@pytest.mark.model
@pytest.mark.parametrize("new_tokens", [12, 30])
def test_ctranslate2_writes_the_tokens_generation_length_allows(
    new_tokens: int, engine_for: EngineFor, clip: Callable[[str], Audio]
) -> None:
    engine = engine_for("trimmed")
    model = engine._model
    audio = clip("jfk.flac")[int(5.5 * SAMPLE_RATE) : int(6.0 * SAMPLE_RATE)]
    features = model.feature_extractor(audio)[:, :50]
    window = np.zeros((1, features.shape[0], 350), dtype=np.float32)
    window[0, :, :50] = features
    tokenizer = engine._trimmed._tokenizer("en", "transcribe")[0]
    prompt = [tokenizer.sot_prev, *tokenizer.encode(" " + LOOPING_PROMPT), *tokenizer.sot_sequence]
    length, allowed = generation_length(len(prompt), new_tokens, int(model.max_length))
    result = model.model.generate(model.encode(window), [prompt], max_length=length, beam_size=1)
    assert allowed == new_tokens
    assert len(result[0].sequences_ids[0]) == allowed  # it loops to the cap


@pytest.mark.model
@pytest.mark.parametrize("rate", [6.0, 1.0])
def test_a_greedy_first_pass_writes_the_one_pass_text(
    rate: float, clip: Callable[[str], Audio], monkeypatch: pytest.MonkeyPatch
) -> None:
    """6 tokens a second: most windows end in the first pass; 1: the dense ones run a second."""
    caps: list[int] = []
    decode_tokens = whisper_window.WindowDecoder._decode_tokens

    def spy(self: whisper_window.WindowDecoder, *args: Any) -> Any:
        caps.append(args[-1])  # max_new: the tokens this pass may write
        return decode_tokens(self, *args)

    one = WhisperEngine(ModelSettings(window="trimmed", window_padding_s=3, first_pass_tokens_per_s=None))
    two = WhisperEngine(ModelSettings(window="trimmed", window_padding_s=3, first_pass_tokens_per_s=rate))
    monkeypatch.setattr(whisper_window.WindowDecoder, "_decode_tokens", spy)
    try:
        passes = []
        for audio, prompt in jfk_windows(clip("jfk.flac")):
            request = TranscribeRequest(audio=audio, initial_prompt=prompt)
            expected = one.transcribe(request)
            caps.clear()
            got = two.transcribe(request)
            assert (got.text, [w.text for w in got.words]) == (expected.text, [w.text for w in expected.words])
            assert caps[0] == whisper_window.FIRST_PASS_MIN_TOKENS + np.ceil(rate * audio.shape[0] / SAMPLE_RATE)
            passes.append(len(caps))
        if rate == 6.0:
            assert passes.count(1) >= 0.9 * len(passes), passes
        else:
            assert 2 in passes, passes
    finally:
        one.close()
        two.close()


@pytest.mark.model
def test_the_first_pass_is_for_greedy_decoding_only(clip: Callable[[str], Audio]) -> None:
    settings = ModelSettings(window="trimmed", window_padding_s=5, beam_size=5, first_pass_tokens_per_s=6.0)
    with WhisperEngine(settings) as engine:
        assert engine._trimmed._first_pass_tokens(2.0) is None
