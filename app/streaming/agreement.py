"""LocalAgreement-2: words are stable once two consecutive hypotheses agree.

Each hypothesis is a word list of the utterance in progress: from its start, or (tail-only
partials, :mod:`app.streaming.tail`) from just before the stable words' end. A word becomes stable
when it is in the common prefix of two consecutive hypotheses' parts after the stable words;
stable words never change afterwards (the idea of whisper_streaming's ``HypothesisBuffer``,
without its model coupling).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.transcript import WordTiming

_NORM = re.compile(r"[^\w']+")
#: samples (50 ms) a word may start before the stable words' end and still be new
BOUNDARY_TOLERANCE = 800


def normalize_word(text: str) -> str:
    """The comparison key of a word: lower case, no punctuation."""
    return _NORM.sub("", text.lower())


def common_prefix_len(a: Sequence[WordTiming], b: Sequence[WordTiming]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if normalize_word(x.text) != normalize_word(y.text):
            break
        n += 1
    return n


@dataclass(frozen=True, slots=True)
class Hypothesis:
    stable: tuple[WordTiming, ...]
    tentative: tuple[WordTiming, ...]

    @property
    def words(self) -> tuple[WordTiming, ...]:
        return self.stable + self.tentative


class LocalAgreement:
    """Tracks one utterance's hypotheses; create a new one per utterance."""

    def __init__(self) -> None:
        self._stable: list[WordTiming] = []
        self._previous: tuple[WordTiming, ...] = ()

    @property
    def stable(self) -> tuple[WordTiming, ...]:
        return tuple(self._stable)

    @property
    def tentative(self) -> tuple[WordTiming, ...]:
        return self._previous

    def commit_through(self, offset: int) -> None:
        """Make the tentative words that end by ``offset`` stable without waiting for an agreement
        (a tail that would otherwise grow without bound)."""
        keep = 0
        while keep < len(self._previous) and self._previous[keep].end <= offset:
            keep += 1
        self._stable.extend(self._previous[:keep])
        self._previous = self._previous[keep:]

    def update(
        self, words: Sequence[WordTiming], *, from_start: bool = True, settled_by: int | None = None
    ) -> Hypothesis:
        """Feed the newest hypothesis; returns the stable prefix and the rest. ``from_start``: the
        hypothesis covers the utterance from its start (else only a tail after the stable words);
        ``settled_by``: only words that end by this offset may become stable (the ones after it agree
        but were heard with too little audio after them: they wait for the next hypothesis)."""
        tail = self._after_stable(words) if from_start else self._after_committed(words)
        previous_tail = self._previous
        agreed = common_prefix_len(tail, previous_tail)
        if settled_by is not None:
            while agreed and tail[agreed - 1].end > settled_by:
                agreed -= 1
        self._stable.extend(tail[:agreed])
        self._previous = tuple(tail[agreed:])
        return Hypothesis(stable=tuple(self._stable), tentative=self._previous)

    def _after_stable(self, words: Sequence[WordTiming]) -> tuple[WordTiming, ...]:
        """The part of a full hypothesis that follows the stable words.

        When the hypothesis repeats the stable words, they are cut by position;
        when it rewrote them, by time: words that start before the last stable
        word ends belong to the stable region."""
        n = len(self._stable)
        if n == 0:
            return tuple(words)
        if common_prefix_len(words, self._stable) == n:
            return tuple(words[n:])
        return self._after_boundary(words)

    def _after_committed(self, words: Sequence[WordTiming]) -> tuple[WordTiming, ...]:
        """The new words of a tail hypothesis (its audio starts just before the stable words' end).

        A word belongs to the committed region when it *ends* there: a tail call re-hears the last
        committed word's end, and the aligner may place the start of the next word early (by its
        start, "for" after a committed "do" was cut). A leading word that repeats the last stable
        word and starts before its end is that word heard again."""
        if not self._stable:
            return tuple(words)
        last = self._stable[-1]
        kept = [w for w in words if w.end > last.end + BOUNDARY_TOLERANCE]
        # committed words heard again, timed a little late: drop any that repeat the stable ones' end
        while kept and kept[0].start < last.end and normalize_word(kept[0].text) in self._recent_keys():
            kept = kept[1:]
        return tuple(kept)

    def _recent_keys(self, n: int = 3) -> set[str]:
        return {normalize_word(w.text) for w in self._stable[-n:]}

    def _after_boundary(self, words: Sequence[WordTiming]) -> tuple[WordTiming, ...]:
        if not self._stable:
            return tuple(words)
        boundary = self._stable[-1].end
        # a small tolerance: word boundaries move by a frame or two between hypotheses
        return tuple(w for w in words if w.start >= boundary - BOUNDARY_TOLERANCE)
