from __future__ import annotations

from app.streaming.guards import clean, collapse_repeats, is_hallucination
from app.transcript import SAMPLE_RATE, Transcript, WordTiming


def w(text: str) -> tuple[WordTiming, ...]:
    return tuple(WordTiming(t, i * 3200, i * 3200 + 3000, 0.9) for i, t in enumerate(text.split()))


def keys(ws: tuple[WordTiming, ...]) -> str:
    return " ".join(x.text for x in ws)


def test_no_speech_rule() -> None:
    t = Transcript(text="Thank you.", avg_logprob=-1.5, no_speech_prob=0.9)
    assert is_hallucination(t, 5 * SAMPLE_RATE)


def test_confident_speech_passes() -> None:
    t = Transcript(text="the child almost hurt the small dog", avg_logprob=-0.2, no_speech_prob=0.01)
    assert not is_hallucination(t, 3 * SAMPLE_RATE)


def test_compression_ratio_rule() -> None:
    assert is_hallucination(Transcript(text="la la la", compression_ratio=3.1), SAMPLE_RATE * 4)


def test_stock_phrase_only_in_short_audio() -> None:
    t = Transcript(text="Thank you.", avg_logprob=-0.3, no_speech_prob=0.2)
    assert is_hallucination(t, SAMPLE_RATE)
    assert not is_hallucination(t, 3 * SAMPLE_RATE)


def test_collapse_looping_phrase() -> None:
    out = collapse_repeats(w("I am I am I am I am here"), max_repeats=2)
    assert keys(out) == "I am I am here"


def test_collapse_trailing_restatement() -> None:
    out = collapse_repeats(w("we must find a new home in the stars we must find a new"))
    assert keys(out) == "we must find a new home in the stars"


def test_short_legit_repeats_kept() -> None:
    assert keys(collapse_repeats(w("yes yes I agree"))) == "yes yes I agree"
    assert keys(collapse_repeats(w("ask not what your country can do for you ask what you can do"))) == (
        "ask not what your country can do for you ask what you can do"
    )


def test_clean_drops_words_after_audio_end() -> None:
    words = (WordTiming("hello", 0, 8000, 0.9), WordTiming("world", 30000, 33000, 0.9))
    out = clean(Transcript(text="hello world", words=words), audio_samples=16000)
    assert out.text == "hello"


def test_clean_hallucination_becomes_empty() -> None:
    out = clean(Transcript(text="you", avg_logprob=-1.2, no_speech_prob=0.8, words=w("you")), SAMPLE_RATE)
    assert out.text == "" and out.words == ()


def test_tidy_partial_drops_cut_marks() -> None:
    from app.streaming.guards import tidy_partial

    out = tidy_partial(w("The child... almost hurt. - this…"))
    assert keys(out) == "The child almost hurt. this"
