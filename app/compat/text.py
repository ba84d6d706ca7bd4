"""Word and speaker forms the vendor shapes share."""

from __future__ import annotations

import re
import uuid

_PLAIN = re.compile(r"[^\w'*]+")  # masked profanity ("f******") keeps its asterisks


def plain_word(word: str) -> str:
    """A word as the vendors write it unformatted: lower case, no punctuation."""
    return _PLAIN.sub("", word.lower()).strip("'")


def plain_text(words: list[str]) -> str:
    return " ".join(w for w in (plain_word(x) for x in words) if w)


def speaker_index(label: str | None) -> int | None:
    """``speaker_1`` → 0 (the vendors number speakers from 0)."""
    if not label:
        return None
    tail = label.rsplit("_", 1)[-1]
    return int(tail) - 1 if tail.isdigit() and int(tail) > 0 else None


def model_uuid(name: str) -> str:
    """A stable id for a model name (Deepgram's responses carry one)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rtstt:model:{name}"))


def punctuated(words: list[str], text: str) -> list[str]:
    """The words as the formatted ``text`` writes them (capitals, final period), where the text has a
    token a word; the words themselves otherwise."""
    tokens = text.split()
    return tokens if len(tokens) == len(words) else words
