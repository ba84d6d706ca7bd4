"""Profanity detection and masking over better-profanity's maintained word list.

better-profanity's list (~900 entries, some of two or more words) is read from the
installed package; its own censor is not used because it cannot take words per
session and it masks inside the leetspeak variants speech recognisers never write.
The list also holds ordinary words that a transcription service must not mask
("kill", "organ", "stroke", "uterus", "vodka", "god", "gay" …): :data:`ORDINARY_WORDS`
are left out unless the operator sets ``enrichment.profanity_allowed``.

A masked word keeps its first letter and punctuation: "Fucking," → "F******,".
Matching is on normalised tokens (case, accents and apostrophes folded), whole
words only, with the plural and -ing forms of list words of four letters or more.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.enrich.text import Token, fold, tokens

MASK = "*"
MAX_PHRASE_WORDS = 4
_SUFFIXES = ("s", "es", "ing", "in")

#: entries of better-profanity's list that are ordinary (medical, legal, historical,
#: culinary, identity …) words in transcripts; README "Profanity filter" lists the rule
ORDINARY_WORDS: frozenset[str] = frozenset(
    (
        "anus",
        "areole",
        "arian",
        "aryan",
        "breasts",
        "crotch",
        "drunk",
        "erect",
        "erotic",
        "facial",
        "fat",
        "gay",
        "gays",
        "god",
        "gonad",
        "gonads",
        "hell",
        "hemp",
        "heroin",
        "herpes",
        "hiv",
        "hitler",
        "hymen",
        "incest",
        "kill",
        "klan",
        "kkk",
        "labia",
        "leper",
        "lesbian",
        "loin",
        "loins",
        "lust",
        "lusting",
        "maxi",
        "menses",
        "meth",
        "molest",
        "murder",
        "naked",
        "napalm",
        "nazi",
        "nazism",
        "nipple",
        "nipples",
        "nude",
        "nudes",
        "opiate",
        "opium",
        "oral",
        "orally",
        "organ",
        "ovary",
        "ovum",
        "ovums",
        "pawn",
        "penile",
        "penis",
        "peyote",
        "pms",
        "pollock",
        "pot",
        "potty",
        "prude",
        "pubic",
        "queer",
        "rape",
        "raped",
        "rapist",
        "rectal",
        "rectum",
        "rectus",
        "reich",
        "revue",
        "rum",
        "sandbar",
        "schizo",
        "screw",
        "screwed",
        "seaman",
        "seamen",
        "semen",
        "sex",
        "sexual",
        "slave",
        "sniper",
        "sperm",
        "stoned",
        "strip",
        "stroke",
        "stupid",
        "tampon",
        "teste",
        "testes",
        "testis",
        "thrust",
        "thug",
        "ugly",
        "unwed",
        "urinal",
        "urine",
        "uterus",
        "uzi",
        "vagina",
        "valium",
        "viagra",
        "virgin",
        "vodka",
        "vomit",
        "vulva",
        "weed",
        "womb",
    )
)


@functools.cache
def packaged_words() -> tuple[str, ...]:
    """better-profanity's word list, folded (empty lines and duplicates dropped)."""
    text = importlib.resources.files("better_profanity").joinpath("profanity_wordlist.txt").read_text("utf-8")
    return tuple(dict.fromkeys(fold(line.strip()) for line in text.splitlines() if line.strip()))


@dataclass(frozen=True, slots=True)
class Masked:
    text: str
    found: list[str]  # the matched entries, folded, in order of first appearance


class ProfanityFilter:
    """An immutable word list: the packaged list less the allowed words, plus extra words."""

    def __init__(self, words: Iterable[str], *, allowed: Iterable[str] = ORDINARY_WORDS) -> None:
        allow = {" ".join(t.norm for t in tokens(w)) for w in allowed}
        self._phrases: set[tuple[str, ...]] = set()
        for w in words:
            key = tuple(t.norm for t in tokens(w))
            if key and " ".join(key) not in allow:
                self._phrases.add(key[:MAX_PHRASE_WORDS])
        self._longest = max((len(k) for k in self._phrases), default=1)

    @classmethod
    def default(cls, allowed: Iterable[str] | None = None) -> ProfanityFilter:
        return cls(packaged_words(), allowed=ORDINARY_WORDS if allowed is None else allowed)

    def with_words(self, extra: Sequence[str]) -> ProfanityFilter:
        """This list plus a session's ``extra_words``."""
        if not extra:
            return self
        clone = object.__new__(ProfanityFilter)
        clone._phrases = self._phrases | {tuple(t.norm for t in tokens(w))[:MAX_PHRASE_WORDS] for w in extra} - {()}
        clone._longest = max((len(k) for k in clone._phrases), default=1)
        return clone

    def mask(self, text: str) -> Masked:
        toks = tokens(text)
        spans: list[tuple[int, int]] = []  # token index ranges to mask
        found: dict[str, None] = {}
        i = 0
        while i < len(toks):
            n = self._match_at(toks, i)
            if n:
                spans.append((i, i + n))
                found[" ".join(t.norm for t in toks[i : i + n])] = None
                i += n
            else:
                i += 1
        if not spans:
            return Masked(text, [])
        chars = list(text)
        for lo, hi in spans:
            for t in toks[lo:hi]:
                for c in range(t.start + 1, t.end):
                    if chars[c].isalnum():
                        chars[c] = MASK
            if hi - lo > 1:  # a phrase: its later words lose their first letter too
                for t in toks[lo + 1 : hi]:
                    chars[t.start] = MASK
        return Masked("".join(chars), list(found))

    def _match_at(self, toks: Sequence[Token], i: int) -> int:
        for n in range(min(self._longest, len(toks) - i), 0, -1):
            words = tuple(t.norm for t in toks[i : i + n])
            if words in self._phrases:
                return n
            if n == 1 and self._inflected(words[0]):
                return 1
        return 0

    def _inflected(self, word: str) -> bool:
        for suffix in _SUFFIXES:
            stem = word.removesuffix(suffix)
            if stem != word and len(stem) >= 4 and (stem,) in self._phrases:
                return True
        return False
