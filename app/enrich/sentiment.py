"""Sentiment of a final: per sentence and overall, from a model's :class:`Polarity` readings.

A model reads each text as a label with a confidence (VADER: its compound score,
see :mod:`app.engines.sentiment`; a classifier: its probabilities). A polar label
whose confidence is below the session's ``min_confidence`` is reported as neutral,
with the model's confidence in the neutral reading.

Granularity ``sentence``: every sentence is scored and listed in ``by_sentence``;
the overall reading is the model's on the whole text (one more text, only when
there are several sentences). Granularity ``utterance``: only the whole text.
"""

from __future__ import annotations

from collections.abc import Sequence

from app import protocol as p
from app.enrich.ports import Polarity, SentimentLabel
from app.enrich.text import sentences
from app.options import SentimentOptions


def texts_to_score(text: str, options: SentimentOptions) -> tuple[list[str], tuple[str, ...]]:
    """(the sentences to list, the texts to send to the model: the sentences, then the whole text)."""
    if options.granularity == "utterance":
        return [], (text,)
    parts = sentences(text) or [text]
    return parts, tuple(parts) if len(parts) == 1 else (*parts, text)


def build(parts: Sequence[str], readings: Sequence[Polarity], options: SentimentOptions) -> p.Sentiment:
    """The wire sentiment from the model's readings of :func:`texts_to_score`'s texts."""
    if not readings:
        raise ValueError("no sentiment readings")
    overall = _label(readings[-1], options.min_confidence)
    by_sentence = [
        p.SentenceSentiment(text=t, sentiment=label, score=score)
        for t, (label, score) in zip(parts, (_label(r, options.min_confidence) for r in readings), strict=False)
    ]
    return p.Sentiment(overall=p.SentimentScore(label=overall[0], score=overall[1]), by_sentence=by_sentence)


def _label(reading: Polarity, min_confidence: float) -> tuple[SentimentLabel, float]:
    if reading.label != "neutral" and reading.score < min_confidence:
        return "neutral", round(reading.neutral, 4)
    return reading.label, round(reading.score, 4)
