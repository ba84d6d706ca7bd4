"""Spelled-out English numbers as digits (``formatting.numerals``), conservatively.

A *run* is a stretch of consecutive number words ("twenty", "one", "hundred", "and" inside a
number, "oh" among digits; "twenty-one" counts as two); punctuation ends a run after the word
it follows. A run becomes digits when it is

* one well-formed number of at least 10: "twenty one" → 21, "three hundred and five" → 305,
  "two thousand twenty four" → 2024, "one million two hundred thousand" → 1200000; or
* two or more single digits read one by one: "nine oh two one oh" → 90210, "zero one" → 01.

Everything else is left as it was written: a lone digit word ("one of them", "drop the two"),
runs that are not one number ("nineteen ninety" as a year, "one two hundred"), ordinals,
fractions, "a hundred", "point", words already written as digits. Case and the punctuation
around a run are kept ("Twenty-one." → "21.").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = {*UNITS, *TEENS, *TENS, "hundred", *SCALES}
_PUNCTUATION = "\"'“”‘’()[]{}.,;:!?…"


@dataclass(frozen=True, slots=True)
class Span:
    """One output token: ``text`` replaces the input words ``first`` to ``last`` (inclusive)."""

    text: str
    first: int
    last: int


def to_digits(words: Sequence[str]) -> list[str]:
    """``words`` with each spelled-out number that qualifies written as digits."""
    return [span.text for span in digit_spans(words)]


def digit_spans(words: Sequence[str]) -> list[Span]:
    """The output tokens of ``words``: a converted number spans its words, any other word itself."""
    out: list[Span] = []
    i = 0
    while i < len(words):
        run = _run_at(words, i)
        converted = _convert(words, i, run) if run else None
        if converted is not None:
            out.append(converted)
        else:  # a run that is not one number stays as spoken, all of it
            out.extend(Span(words[k], k, k) for k in range(i, i + max(run, 1)))
        i += max(run, 1)
    return out


# ---------------------------------------------------------------------------- runs


def _split(word: str) -> tuple[str, list[str], str]:
    """(leading punctuation, lower-case number-word parts or [], trailing punctuation)."""
    core = word.strip(_PUNCTUATION)
    if not core:
        return "", [], ""
    start = word.index(core)
    lead, trail = word[:start], word[start + len(core) :]
    parts = core.lower().split("-")
    if all(p in _NUMBER_WORDS or p in ("oh", "and") for p in parts):
        return lead, parts, trail
    return lead, [], trail


def _run_at(words: Sequence[str], i: int) -> int:
    """How many words from ``i`` on form a run of number words (0: none starts here)."""
    n = 0
    while i + n < len(words):
        lead, parts, trail = _split(words[i + n])
        if not parts or (lead and n > 0):
            break
        n += 1
        if trail:
            break
    # a run neither starts nor ends with "and"
    while n and _split(words[i + n - 1])[1] == ["and"]:
        n -= 1
    if n and _split(words[i])[1][0] == "and":
        return 0
    return n


def _convert(words: Sequence[str], i: int, n: int) -> Span | None:
    lead = _split(words[i])[0]
    trail = _split(words[i + n - 1])[2]
    parts = [p for w in words[i : i + n] for p in _split(w)[1]]
    digits = _digit_string(parts)
    if digits is not None:
        return Span(f"{lead}{digits}{trail}", i, i + n - 1)
    value = _value(parts)
    if value is None or value < 10:
        return None
    return Span(f"{lead}{value}{trail}", i, i + n - 1)


def _digit_string(parts: list[str]) -> str | None:
    """Two or more single digits ("oh" as zero, not first): their digits; else None."""
    if len(parts) < 2 or parts[0] == "oh":
        return None
    if not all(p in UNITS or p == "oh" for p in parts):
        return None
    return "".join("0" if p == "oh" else str(UNITS[p]) for p in parts)


def _value(parts: list[str]) -> int | None:
    """The value of one well-formed cardinal number, or None."""
    total = 0
    current = 0  # the group below the last scale word, 0..999
    last_scale = 10**12
    previous = ""  # the kind of the previous part
    for k, part in enumerate(parts):
        if part == "and":
            # only "hundred and five", "thousand and five", followed by the rest of the number
            if previous not in ("hundred", "scale") or k == len(parts) - 1:
                return None
            previous = "and"
            continue
        if part in UNITS:
            if part == "zero" or previous in ("unit", "teen") or current % 10:
                return None
            current += UNITS[part]
            previous = "unit"
        elif part in TEENS or part in TENS:
            if current % 100 or previous in ("unit", "teen", "tens"):
                return None
            current += TEENS.get(part) or TENS[part]
            previous = "teen" if part in TEENS else "tens"
        elif part == "hundred":
            if not 1 <= current <= 9 or previous != "unit":
                return None
            current *= 100
            previous = "hundred"
        elif part in SCALES:
            scale = SCALES[part]
            if current == 0 or scale >= last_scale:
                return None
            total += current * scale
            current, last_scale, previous = 0, scale, "scale"
        else:  # "oh" outside a digit string
            return None
    return total + current
