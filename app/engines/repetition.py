"""Cuts Whisper's repetition loops out of one decode (pure logic, no model).

With little padding after the speech, a window trimmed to the audio lets the
decoder run on: it writes the sentence again and again, often with timestamps
past the end of the audio, until the length cap (measured on tiny.en: + 0 to 4 s
of padding on 2 to 3 s clips, docs/architecture.md §5). Two cuts, on the token ids:

* :func:`cut_past_end`: text that follows a timestamp at or past the end of the
  audio describes audio that is not there;
* :func:`loop_start`: a tail that repeats the span before it, word for word
  (case ignored, any punctuation mark equal to any other), ``min_copies`` times
  or more is a loop; the first copy is kept.

A genuine repetition in speech ("do you hear me? yes. do you hear me? yes.")
repeats twice and ends the decode by itself, so a natural end needs three
copies, a decode that hit the length cap two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: seconds a Whisper timestamp token stands for
TIMESTAMP_PRECISION_S = 0.02
#: least words (punctuation marks count) a looping tail must span, so "no, no, no" stays
MIN_LOOP_WORDS = 8

_NON_WORD = re.compile(r"[^\w']+")


def cut_past_end(tokens: Sequence[int], timestamp_begin: int, eot: int, audio_s: float) -> list[int]:
    """``tokens`` up to the first timestamp at or after ``audio_s`` that text follows."""
    for i, token in enumerate(tokens):
        if token >= timestamp_begin and (token - timestamp_begin) * TIMESTAMP_PRECISION_S >= audio_s:
            if any(t < eot for t in tokens[i + 1 :]):
                return list(tokens[:i])
            break
    return list(tokens)


def normalize(word: str) -> str:
    """The comparison key of a word: lower case without punctuation; any mark equals any mark
    (a loop may write "figures," one time and "figures." the next)."""
    return _NON_WORD.sub("", word.lower()) or _MARK


_MARK = "<mark>"


def loop_start(words: Sequence[str], min_copies: int) -> int | None:
    """Index of the first word after the first copy of a looping tail, or None.

    A tail is looping when ``words[i:]`` is periodic with some period ``p``, holds
    at least ``min_copies`` copies (the last may be partial) and ``MIN_LOOP_WORDS``
    words. The earliest such cut wins.
    """
    keys = [normalize(w) for w in words]
    n = len(keys)
    best: int | None = None
    for period in range(1, n // max(min_copies, 1) + 1):
        k = n
        while k - 1 - period >= 0 and keys[k - 1] == keys[k - 1 - period]:
            k -= 1
        start = k - period  # keys[start:] repeats with this period
        span = n - start
        if span >= min_copies * period and span >= MIN_LOOP_WORDS and span > period:
            cut = start + period
            if best is None or cut < best:
                best = cut
    return best
