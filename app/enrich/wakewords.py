"""Wake phrases in recognised text, robust to casing, punctuation and small ASR errors.

Text and phrases are reduced to normalised word tokens (:func:`app.enrich.text.tokens`),
so "Hey, Computer!" and "hey computer" are the same. A phrase matches a run of
consecutive words when their letters, joined without spaces, are within a few
character edits of the phrase's (``max_edits`` × its letters, rounded down: one
edit for "hey computer", none for "alexa"), so splits and merges ("hey-computer",
"heycomputer") and a misheard letter ("hey computor") still match, and each phrase
word must still be recognisable in the run (at most half its letters edited).
Near misses stay unmatched: another word ("hey commander"), a missing word
("computer" alone), words between ("hey there computer") or in another order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.enrich.text import tokens

#: spoken forms ASR writes for the same word
_ALIASES = {"okay": "ok", "o.k": "ok", "hi": "hey", "hay": "hey"}


def _norm(text: str) -> list[str]:
    return [_ALIASES.get(t.norm, t.norm) for t in tokens(text)]


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance; stops early (returning ``limit + 1``) once it must exceed ``limit``."""
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


@dataclass(frozen=True, slots=True)
class WakePhrase:
    text: str
    words: tuple[str, ...]
    max_edits: int


class WakeWordMatcher:
    def __init__(self, phrases: Sequence[str], *, max_edits: float = 0.15) -> None:
        self.phrases: list[WakePhrase] = []
        for phrase in phrases:
            words = tuple(_norm(phrase))
            if words:
                letters = sum(len(w) for w in words)
                self.phrases.append(WakePhrase(phrase, words, int(letters * max_edits)))

    def find(self, text: str) -> str | None:
        """The first configured phrase heard in ``text``, or None."""
        words = _norm(text)
        for phrase in self.phrases:
            if _matches(phrase, words):
                return phrase.text
        return None


def _matches(phrase: WakePhrase, words: Sequence[str]) -> bool:
    target = "".join(phrase.words)
    for i in range(len(words)):
        run = ""
        for j in range(i, min(len(words), i + len(phrase.words) + 1)):
            run += words[j]
            if len(run) - len(target) > phrase.max_edits:
                break
            if edit_distance(run, target, phrase.max_edits) <= phrase.max_edits and _words_present(
                phrase.words, words[i : j + 1]
            ):
                return True
    return False


def _words_present(phrase: Sequence[str], run: Sequence[str]) -> bool:
    """Each phrase word, in order, is at least half recognisable in the run's letters."""
    joined = "".join(run)
    at = 0
    for word in phrase:
        best: tuple[int, int] | None = None  # (edits, end)
        for start in range(at, len(joined) + 1):
            for end in range(start + max(1, len(word) - 2), min(len(joined), start + len(word) + 2) + 1):
                d = edit_distance(joined[start:end], word)
                if best is None or d < best[0]:
                    best = (d, end)
            if start > at + 2:  # a word may not be preceded by unmatched letters
                break
        if best is None or best[0] * 2 > len(word):
            return False
        at = best[1]
    return True
