"""Text helpers shared by the text enrichers: sentences and normalised tokens."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# a sentence ends at . ! ? (or …) followed by a space; Whisper punctuates its output
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def sentences(text: str) -> list[str]:
    """The sentences of a transcript, stripped, without empty ones."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def fold(text: str) -> str:
    """Lower case without accents: "Café" → "cafe"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class Token:
    norm: str  # folded, apostrophes removed: "don't" → "dont"
    start: int  # character span in the original text
    end: int


def tokens(text: str) -> list[Token]:
    """The words of ``text`` (letters and digits; inner apostrophes kept together), normalised."""
    return [Token(fold(m.group()).replace("'", "").replace("’", ""), m.start(), m.end()) for m in _TOKEN.finditer(text)]
