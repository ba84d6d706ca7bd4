"""The Analyzer's engine: sentiment readings and topic similarities for batches of requests.

One batch of requests (from many sessions) costs one sentiment call over all their
texts and one sentence-model pass over all their topic texts plus any topic
description not embedded yet (descriptions are cached: the server's list is embedded
once). Each model is loaded when first needed, or all at start with ``eager``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from app.engines.device import limit_blas_threads
from app.engines.sentence import SentenceEncoder
from app.engines.sentiment import SentimentModel, load_sentiment
from app.enrich.ports import AnalyzeReply, AnalyzeRequest, TopicQuery
from app.enrich.settings import AnalysisSettings

DESCRIPTION_CACHE = 4096


def set_torch_threads(threads: int) -> None:
    """torch's intra-op threads for this process (0: leave torch's default). One thread suits a
    process that shares a few cores with others: more spin and wait on a busy machine."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        limit_blas_threads(threads)


class AnalysisEngine:
    def __init__(self, settings: AnalysisSettings, *, eager: bool = False) -> None:
        self.settings = settings
        self._sentiment: SentimentModel | None = None
        self._encoder: SentenceEncoder | None = None
        self._descriptions: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # loading
        self._batch_lock = threading.Lock()  # one batch at a time: the description cache is shared
        if eager:
            self.warm_up()

    def warm_up(self) -> float:
        started = time.perf_counter()
        topics = tuple(TopicQuery(t.name, tuple(t.descriptions)) for t in self.settings.topics)
        self.analyze_batch([AnalyzeRequest(("Warming up.",), ("Warming up.",), topics)])
        return time.perf_counter() - started

    def load(self, *, sentiment: bool = True, topics: bool = True) -> None:
        """Load (and so warm) the models named now rather than on first use."""
        if sentiment:
            self.sentiment.score(["Warming up."])
        if topics:
            self.encoder.encode(["Warming up."])

    @property
    def sentiment(self) -> SentimentModel:
        with self._lock:
            if self._sentiment is None:
                if self.settings.sentiment_model:
                    set_torch_threads(self.settings.cpu_threads)
                self._sentiment = load_sentiment(self.settings.sentiment_model, device=self.settings.device)
            return self._sentiment

    @property
    def encoder(self) -> SentenceEncoder:
        with self._lock:
            if self._encoder is None:
                set_torch_threads(self.settings.cpu_threads)
                self._encoder = SentenceEncoder(self.settings.topic_model, device=self.settings.device)
            return self._encoder

    def analyze(self, request: AnalyzeRequest) -> AnalyzeReply:
        return self.analyze_batch([request])[0]

    def analyze_batch(self, requests: Sequence[AnalyzeRequest]) -> list[AnalyzeReply]:
        with self._batch_lock:
            return self._analyze(requests)

    def _analyze(self, requests: Sequence[AnalyzeRequest]) -> list[AnalyzeReply]:
        started = time.perf_counter()
        texts = [t for r in requests for t in r.sentiment_texts]
        readings = self.sentiment.score(texts) if texts else []
        wanted = [r for r in requests if r.topic_texts and r.topics]
        topic_texts = [t for r in wanted for t in r.topic_texts]
        text_vectors = self._embed_with_descriptions(topic_texts, wanted) if wanted else np.zeros((0, 1))
        replies, s_at, t_at = [], 0, 0
        for r in requests:
            sentiment = tuple(readings[s_at : s_at + len(r.sentiment_texts)])
            s_at += len(r.sentiment_texts)
            similarity: tuple[tuple[float, ...], ...] = ()
            if r.topic_texts and r.topics:
                vectors = text_vectors[t_at : t_at + len(r.topic_texts)]
                t_at += len(r.topic_texts)
                similarity = self._similarity(vectors, r)
            replies.append(AnalyzeReply(sentiment, similarity))
        elapsed = time.perf_counter() - started
        return [AnalyzeReply(r.sentiment, r.topic_similarity, elapsed) for r in replies]

    def _embed_with_descriptions(self, texts: list[str], requests: Sequence[AnalyzeRequest]) -> np.ndarray:
        missing = list(
            dict.fromkeys(d for r in requests for q in r.topics for d in q.descriptions if d not in self._descriptions)
        )
        vectors = self.encoder.encode([*texts, *missing])
        for text, vector in zip(missing, vectors[len(texts) :], strict=True):
            self._descriptions[text] = vector
        for r in requests:  # keep this batch's descriptions, evict the least recently used
            for q in r.topics:
                for d in q.descriptions:
                    self._descriptions.move_to_end(d)
        while len(self._descriptions) > DESCRIPTION_CACHE:
            self._descriptions.popitem(last=False)
        return vectors[: len(texts)]

    def _similarity(self, vectors: np.ndarray, request: AnalyzeRequest) -> tuple[tuple[float, ...], ...]:
        columns = []
        for q in request.topics:
            described = np.stack([self._descriptions[d] for d in q.descriptions])
            columns.append((vectors @ described.T).max(axis=1))
        matrix = np.stack(columns, axis=1)
        return tuple(tuple(round(float(x), 4) for x in row) for row in matrix)
