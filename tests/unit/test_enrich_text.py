"""The text enrichers' logic: wake phrases, profanity masking, sentiment and topic building."""

from __future__ import annotations

import numpy as np
import pytest

from app.engines.errors import EngineError
from app.engines.sentiment import map_label, vader_polarity
from app.enrich import sentiment, topics
from app.enrich.ports import Polarity, TopicQuery
from app.enrich.profanity import ORDINARY_WORDS, ProfanityFilter, packaged_words
from app.enrich.settings import TopicSpec
from app.enrich.text import sentences, tokens
from app.enrich.wakewords import WakeWordMatcher, edit_distance
from app.options import SentimentOptions, TopicOptions

# --------------------------------------------------------------------------- wake words

WAKE = WakeWordMatcher(["hey computer", "OK Google", "Alexa"])


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Hey, Computer! What time is it?", "hey computer"),
        ("hey-computer lights on", "hey computer"),
        ("heycomputer", "hey computer"),
        ("Hey computor, turn it on.", "hey computer"),  # one letter misheard
        ("Hi computer.", "hey computer"),  # a spoken variant of "hey"
        ("So I said hey computer please", "hey computer"),
        ("Okay, Google.", "OK Google"),
        ("O.K. google", "OK Google"),
        ("ALEXA, stop.", "Alexa"),
    ],
)
def test_wake_phrases_are_heard_through_case_punctuation_and_small_errors(text: str, phrase: str) -> None:
    assert WAKE.find(text) == phrase


@pytest.mark.parametrize(
    "text",
    [
        "hey commander",  # another word
        "computer",  # a word missing
        "hey there computer",  # a word between
        "computer hey",  # another order
        "a computer",
        "Alexis, stop.",  # no edit allowed in five letters
        "okay go go",
        "",
    ],
)
def test_near_misses_are_rejected(text: str) -> None:
    assert WAKE.find(text) is None


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("abc", "abc") == 0
    assert edit_distance("abcdef", "a", limit=2) == 3  # stopped early


# --------------------------------------------------------------------------- profanity

FILTER = ProfanityFilter.default()


def test_listed_words_are_masked_keeping_first_letter_and_punctuation() -> None:
    masked = FILTER.mask("What the fuck, this is bullshit!")
    assert masked.text == "What the f***, this is b*******!"
    assert masked.found == ["fuck", "bullshit"]


def test_phrases_inflections_and_case() -> None:
    assert FILTER.mask("That is BULL SHIT.").text == "That is B*** ****."
    assert FILTER.mask("Stop fucking around").found == ["fucking"]
    assert FILTER.mask("two bitches").found == ["bitches"]


def test_ordinary_words_of_the_list_are_left_alone() -> None:
    text = "The stroke patient had a pot roast and strips of bacon; kill the process."
    assert FILTER.mask(text).text == text
    assert {"kill", "stroke", "organ"} <= ORDINARY_WORDS and "kill" in packaged_words()
    strict = ProfanityFilter.default(allowed=[])
    assert strict.mask("kill it").found == ["kill"]


def test_whole_words_only_and_session_extra_words() -> None:
    assert FILTER.mask("Scunthorpe and classic assets").found == []
    extra = FILTER.with_words(["broccoli", "darn it"])
    assert extra.mask("Darn it, broccoli again").text == "D*** **, b******* again"
    assert FILTER.mask("broccoli").found == []  # the base list is unchanged


def test_tokens_fold_case_accents_and_apostrophes() -> None:
    assert [t.norm for t in tokens("Don't CAFÉ-au-lait")] == ["dont", "cafe", "au", "lait"]


# --------------------------------------------------------------------------- sentiment


def test_sentences_split_on_end_punctuation() -> None:
    assert sentences("Hello there. How are you? Fine!") == ["Hello there.", "How are you?", "Fine!"]
    assert sentences("no punctuation") == ["no punctuation"]


def test_vader_compound_reads_as_label_and_confidence() -> None:
    assert vader_polarity(0.8) == Polarity("positive", 0.9, pytest.approx(0.2))
    assert vader_polarity(-0.5) == Polarity("negative", 0.75, 0.5)
    assert vader_polarity(0.02).label == "neutral"


def test_sentiment_by_sentence_and_overall() -> None:
    opts = SentimentOptions(enabled=True)
    parts, texts = sentiment.texts_to_score("I love it. I hate it.", opts)
    assert parts == ["I love it.", "I hate it."] and texts == ("I love it.", "I hate it.", "I love it. I hate it.")
    readings = [Polarity("positive", 0.8, 0.4), Polarity("negative", 0.9, 0.2), Polarity("neutral", 0.95, 0.95)]
    result = sentiment.build(parts, readings, opts)
    assert [(s.sentiment, s.score) for s in result.by_sentence] == [("positive", 0.8), ("negative", 0.9)]
    assert result.overall.label == "neutral"


def test_min_confidence_turns_weak_readings_neutral_and_utterance_granularity() -> None:
    opts = SentimentOptions(enabled=True, min_confidence=0.85, granularity="utterance")
    parts, texts = sentiment.texts_to_score("I like it. Fine.", opts)
    assert parts == [] and texts == ("I like it. Fine.",)
    result = sentiment.build(parts, [Polarity("positive", 0.8, 0.6)], opts)
    assert result.overall.label == "neutral" and result.overall.score == 0.6 and result.by_sentence == []


@pytest.mark.parametrize(
    ("name", "index", "count", "label"),
    [
        ("POSITIVE", 1, 2, "positive"),
        ("neg", 0, 3, "negative"),
        ("Neutral", 1, 3, "neutral"),
        ("1 star", 0, 5, "negative"),
        ("3 stars", 2, 5, "neutral"),
        ("5 stars", 4, 5, "positive"),
        ("LABEL_1", 1, 2, "positive"),
        ("LABEL_1", 1, 3, "neutral"),
    ],
)
def test_classifier_labels_map_by_name(name: str, index: int, count: int, label: str) -> None:
    assert map_label(name, index, count) == label


def test_unreadable_classifier_label_is_an_error() -> None:
    with pytest.raises(EngineError):
        map_label("joy", 0, 6)


# --------------------------------------------------------------------------- topics

SERVER = [TopicSpec(name="sports", descriptions=["sports", "a game"]), TopicSpec(name="weather", descriptions=["rain"])]


def test_session_topics_resolve_from_the_server_list_or_their_own_descriptions() -> None:
    assert [q.name for q in topics.resolve(None, SERVER)] == ["sports", "weather"]
    got = topics.resolve(["Sports", "billing: invoices; payments", "cats"], SERVER)
    assert got == (
        TopicQuery("sports", ("sports", "a game")),
        TopicQuery("billing", ("invoices", "payments")),
        TopicQuery("cats", ("cats",)),
    )


def test_confidence_is_a_softmax_with_a_background_class() -> None:
    conf = topics.confidences(np.array([[0.7, 0.1], [0.2, 0.18]]), background=0.25, temperature=0.05)
    assert conf[0, 0] > 0.95  # clearly on one topic
    assert conf[1].max() < 0.3  # near no topic


def test_topics_report_confident_ones_with_their_sentences() -> None:
    parts, texts = topics.texts_to_compare("We won the match. It rained all day.")
    assert texts == (*parts, "We won the match. It rained all day.")
    queries = (TopicQuery("sports", ("sports",)), TopicQuery("weather", ("rain",)), TopicQuery("food", ("food",)))
    sims = [[0.6, 0.1, 0.1], [0.1, 0.55, 0.1], [0.4, 0.35, 0.05]]
    found = topics.build(parts, queries, sims, TopicOptions(enabled=True), background=0.25, temperature=0.05)
    assert [t.topic for t in found] == ["sports", "weather"]
    assert found[0].mentions == ["We won the match."] and found[1].mentions == ["It rained all day."]
    assert (
        topics.build(
            parts, queries, sims, TopicOptions(enabled=True, min_confidence=0.999), background=0.25, temperature=0.05
        )
        == []
    )


def test_the_pyannote_backend_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from app.engines.errors import BackendMissingError
    from app.engines.speaker import load_speaker_engine
    from app.enrich.settings import DiarizationSettings

    monkeypatch.setitem(sys.modules, "pyannote.audio", None)  # as where the extra is not installed
    monkeypatch.setitem(sys.modules, "pyannote.audio.pipelines.speaker_verification", None)
    with pytest.raises(BackendMissingError, match=r"rtstt\[pyannote\]"):
        load_speaker_engine(DiarizationSettings(backend="pyannote"), warm_up=False)
