"""Sentiment models: VADER's lexicon (the default) or a transformers classifier.

Both read a text as a :class:`~app.enrich.ports.Polarity`: a label and the model's
confidence in it, plus its confidence in a neutral reading.

* VADER (``vaderSentiment``): its compound score ``c`` (-1 to 1) decides the label
  with VADER's own cut-offs (≥ 0.05 positive, ≤ -0.05 negative, else neutral); the
  confidence of a polar label is ``(1 + |c|) / 2``, read as a probability, so the
  default ``min_confidence`` of 0.5 keeps VADER's cut-offs and a higher one asks for
  stronger wording (0.7: ``|c| ≥ 0.4``); neutral's is ``1 - |c|``.
* A classifier folder (``analysis.sentiment_model``): its softmax probabilities,
  its labels mapped by name (``positive``/``POS``, ``negative``, ``neutral``; 1 to 5
  "stars"; ``LABEL_0..1`` as negative, positive and ``LABEL_0..2`` as negative,
  neutral, positive). A two-class model's neutral confidence is ``1 - p(label)``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.engines.errors import BackendMissingError, EngineError
from app.engines.hf_folder import load_local
from app.enrich.ports import Polarity, SentimentLabel

logger = logging.getLogger(__name__)

VADER_CUTOFF = 0.05
MAX_TOKENS = 512


class SentimentModel(Protocol):
    def score(self, texts: Sequence[str]) -> list[Polarity]: ...


class VaderSentiment:
    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:
            raise BackendMissingError("vaderSentiment is not installed; pip install vaderSentiment") from exc
        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: Sequence[str]) -> list[Polarity]:
        return [vader_polarity(float(self._analyzer.polarity_scores(t)["compound"])) for t in texts]


def vader_polarity(compound: float) -> Polarity:
    strength = abs(compound)
    if strength < VADER_CUTOFF:
        return Polarity("neutral", 1.0 - strength, 1.0 - strength)
    return Polarity("positive" if compound > 0 else "negative", (1.0 + strength) / 2, 1.0 - strength)


class ClassifierSentiment:
    """A transformers sequence-classification model from a local folder."""

    def __init__(self, path: str, *, device: str = "cpu") -> None:
        folder = Path(path).expanduser()
        started = time.perf_counter()
        loaded = load_local(
            folder,
            "AutoModelForSequenceClassification",
            what="sentiment model",
            needed_for="a sentiment model",
            device=device,
        )
        self._tokenizer: Any = loaded.tokenizer
        self._model: Any = loaded.model
        model, target, torch = loaded.model, loaded.device, loaded.torch
        id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        self.labels: list[SentimentLabel] = [map_label(id2label[i], i, len(id2label)) for i in range(len(id2label))]
        self._torch = torch
        self._lock = threading.Lock()
        self.device = target
        logger.info("sentiment model %s loaded in %.2f s", folder.name, time.perf_counter() - started)

    def score(self, texts: Sequence[str]) -> list[Polarity]:
        if not texts:
            return []
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            batch = {k: v.to(self.device) for k, v in batch.items()}
            probs = torch.softmax(self._model(**batch).logits.float(), dim=-1).cpu().numpy()
        return [self._polarity(row) for row in probs]

    def _polarity(self, probs: np.ndarray) -> Polarity:
        by_label = {label: 0.0 for label in ("positive", "negative", "neutral")}
        for label, prob in zip(self.labels, probs, strict=True):
            by_label[label] += float(prob)
        best: SentimentLabel = max(("positive", "negative", "neutral"), key=lambda k: by_label[k])
        has_neutral = "neutral" in self.labels
        neutral = by_label["neutral"] if has_neutral else 1.0 - by_label[best]
        return Polarity(best, by_label[best], neutral)


_STARS = re.compile(r"^([1-5])\s*stars?$")
_PREFIXES: tuple[tuple[str, SentimentLabel], ...] = (("pos", "positive"), ("neg", "negative"), ("neu", "neutral"))


def map_label(name: str, index: int, count: int) -> SentimentLabel:
    """A classifier's label name → positive, negative or neutral; raises on a name it cannot read."""
    low = name.strip().lower()
    if stars := _STARS.match(low):
        n = int(stars.group(1))
        return "negative" if n <= 2 else ("neutral" if n == 3 else "positive")
    for prefix, label in _PREFIXES:
        if low.startswith(prefix):
            return label
    if re.fullmatch(r"label_\d+", low) and count in (2, 3):
        order: tuple[SentimentLabel, ...] = ("negative", "positive")
        if count == 3:
            order = ("negative", "neutral", "positive")
        return order[index]
    raise EngineError(f"sentiment label {name!r} is not positive, negative or neutral; rename it in config.json")


def load_sentiment(path: str | None, *, device: str = "cpu") -> SentimentModel:
    return ClassifierSentiment(path, device=device) if path else VaderSentiment()
