"""Word error rate with the normalisation the manifest's references need."""

from __future__ import annotations

import re

import jiwer

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, every digit its own word; "oh" beside a digit reads
    as "zero" (the vosk clip's reference spells "9 0 2" as "nine oh two")."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text)
    words = re.sub(r"[^a-z' ]+", " ", text).split()
    return " ".join(
        "zero" if w == "oh" and any(0 <= j < len(words) and words[j] in _DIGITS for j in (i - 1, i + 1)) else w
        for i, w in enumerate(words)
    )


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))


def pooled_wer(pairs: list[tuple[str, str]]) -> float:
    refs = [normalize(r) for r, _ in pairs]
    hyps = [normalize(h) for _, h in pairs]
    return float(jiwer.wer(refs, hyps))
