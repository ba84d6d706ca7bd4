"""Zero-shot topics of a final, from sentence-embedding similarities.

Each topic is a name and a few short descriptions; a text's similarity to a topic
is its cosine similarity to the closest description (MiniLM, computed by the
Analyzer). Raw cosines of unrelated texts sit around 0.1 to 0.2 and of on-topic
ones at 0.3 to 0.8, so they are turned into a confidence by a softmax over the
topics plus a "no topic" class of similarity ``background`` at ``temperature``:
a text near no topic gives every topic a low confidence, and a text near two
topics splits it. A topic's confidence is its best over the sentences and the
whole text; its ``mentions`` are the sentences that reach ``min_confidence``.

Session topics (``topic_detection.topics``) are names from the server's list,
or new topics written ``"name"`` or ``"name: description; description"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app import protocol as p
from app.enrich.ports import TopicQuery
from app.enrich.settings import TopicSpec
from app.enrich.text import sentences
from app.options import MAX_TOPICS, TopicOptions


def resolve(requested: Sequence[str] | None, server: Sequence[TopicSpec]) -> tuple[TopicQuery, ...]:
    """The topics of a session: the server's when none are requested."""
    known = {t.name.casefold(): t for t in server}
    if requested is None:
        return tuple(TopicQuery(t.name, tuple(t.descriptions)) for t in server)
    out: dict[str, TopicQuery] = {}
    for entry in requested[:MAX_TOPICS]:
        name, _, described = entry.partition(":")
        name = name.strip()
        if not name:
            continue
        descriptions = tuple(d.strip() for d in described.split(";") if d.strip())
        if not descriptions and name.casefold() in known:
            spec = known[name.casefold()]
            out[name] = TopicQuery(spec.name, tuple(spec.descriptions))
        else:
            out[name] = TopicQuery(name, descriptions or (name,))
    return tuple(out.values())


def texts_to_compare(text: str) -> tuple[list[str], tuple[str, ...]]:
    """(the sentences that may be mentions, the texts to embed: the sentences, then the whole text)."""
    parts = sentences(text) or [text]
    return parts, tuple(parts) if len(parts) == 1 else (*parts, text)


def confidences(similarity: np.ndarray, background: float, temperature: float) -> np.ndarray:
    """Rows: texts; columns: topics. Softmax over the topics and the background class."""
    sims = np.atleast_2d(np.asarray(similarity, dtype=np.float64))
    logits = np.concatenate([np.full((sims.shape[0], 1), background), sims], axis=1) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    result: np.ndarray = (exp / exp.sum(axis=1, keepdims=True))[:, 1:]
    return result


def build(
    parts: Sequence[str],
    topics: Sequence[TopicQuery],
    similarity: Sequence[Sequence[float]],
    options: TopicOptions,
    *,
    background: float,
    temperature: float,
) -> list[p.Topic]:
    """The wire topics, most confident first; ``similarity`` rows follow :func:`texts_to_compare`."""
    if not topics or not similarity:
        return []
    conf = confidences(np.asarray(similarity), background, temperature)
    found = []
    for j, topic in enumerate(topics):
        best = float(conf[:, j].max())
        if best < options.min_confidence:
            continue
        by_part = conf[: len(parts), j]
        mentions = [t for t, c in zip(parts, by_part, strict=False) if c >= options.min_confidence]
        if not mentions:  # only the whole text reached it: its closest sentence carries it
            mentions = [parts[int(np.argmax(by_part))]]
        found.append(p.Topic(topic=topic.name, confidence=round(best, 4), mentions=mentions))
    return sorted(found, key=lambda t: -t.confidence)
