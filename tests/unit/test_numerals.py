"""formatting.numerals: spelled-out numbers as digits, and what is left alone."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.options import SessionOptions
from app.session.results import final_result
from app.session.timeline import Timeline
from app.streaming.numerals import Span, digit_spans, to_digits
from app.transcript import SAMPLE_RATE, WordTiming


def digits(text: str) -> str:
    return " ".join(to_digits(text.split()))


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("twenty one", "21"),
        ("twenty-one", "21"),
        ("Twenty-one.", "21."),
        ("ten", "10"),
        ("nineteen", "19"),
        ("ninety nine", "99"),
        ("one hundred", "100"),
        ("three hundred and five", "305"),
        ("one hundred one", "101"),
        ("two thousand twenty four", "2024"),
        ("two thousand and five", "2005"),
        ("one million two hundred thousand", "1200000"),
        ("nine oh two one oh", "90210"),
        ("zero one eight zero three", "01803"),
        ("one zero zero zero one", "10001"),
        ("one two", "12"),
    ],
)
def test_numbers_become_digits(spoken: str, written: str) -> None:
    assert digits(spoken) == written


@pytest.mark.parametrize(
    "text",
    [
        "drop the two when you add the figures",  # a lone digit word stays a word
        "we are sure that one war is enough",
        "one of them",
        "zero",
        "nineteen ninety",  # a year read in pairs is not one number: left as spoken
        "one two hundred",
        "twenty one hundred",
        "a hundred",
        "hundred",
        "the first and second",
        "one and two",
        "oh no",
        "oh two",  # "oh" only inside digits, never first
        "one, two, three",  # punctuation ends a run: a list, not a number
        "it was 20 five",
        "someone is alone",
    ],
)
def test_what_is_left_as_spoken(text: str) -> None:
    assert digits(text) == text


def test_numbers_inside_a_sentence_keep_their_punctuation_and_neighbours() -> None:
    assert digits("I have twenty five apples, and ten pears.") == "I have 25 apples, and 10 pears."
    assert digits('He said "forty two" twice') == 'He said "42" twice'
    assert digits("call nine oh two one oh now") == "call 90210 now"
    assert digits("and one hundred and") == "and 100 and"  # no "and" at either end of a number


def test_spans_say_which_words_a_number_replaces() -> None:
    assert digit_spans(["add", "twenty", "one", "now"]) == [
        Span("add", 0, 0),
        Span("21", 1, 2),
        Span("now", 3, 3),
    ]


def test_finals_with_numerals_merge_the_words_of_a_number() -> None:
    step = SAMPLE_RATE // 4
    spoken = ["Dial", "nine", "oh", "two", "one", "oh,", "please."]
    words = [WordTiming(w, i * step, (i + 1) * step, 0.5 + 0.05 * i) for i, w in enumerate(spoken)]
    options = SessionOptions.model_validate({"formatting": {"numerals": True}})
    final = final_result(
        "s", 1, 1, words=words, text=" ".join(spoken), start=0, end=len(spoken) * step,
        timeline=Timeline(datetime(2026, 1, 1)), options=options, transcription_time=0.1,
    )  # fmt: skip
    assert final.data.text == "Dial 90210, please."
    assert [w.word for w in final.data.words] == ["Dial", "90210,", "please."]
    number = final.data.words[1]
    assert (number.start, number.end) == (0.25, 1.5)
    assert number.confidence == pytest.approx(sum(0.5 + 0.05 * i for i in range(1, 6)) / 5, abs=1e-4)
    off = final_result(
        "s", 1, 1, words=words, text=" ".join(spoken), start=0, end=len(spoken) * step,
        timeline=Timeline(datetime(2026, 1, 1)), options=SessionOptions(), transcription_time=0.1,
    )  # fmt: skip
    assert off.data.text == "Dial nine oh two one oh, please."
