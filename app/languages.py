"""What a session may ask of the models' languages: codes, detection, translation, key terms.

Pure data and validation, no model: the option types :class:`~app.config.SessionOptions`
uses and the limits their error messages quote. Whisper's language codes are copied here
(a model test checks them against faster-whisper's list), so validating a session's
``language`` imports no model library.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

#: ISO 639-1 codes (and Whisper's few others: haw, yue) Whisper's tokenizer knows, in its order
WHISPER_LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy", "da",
    "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw", "he", "hi",
    "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn", "ko", "la", "lb",
    "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn",
    "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "sn", "so", "sq",
    "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr", "tt", "uk", "ur", "uz", "vi",
    "yi", "yo", "zh", "yue",
)  # fmt: skip
_KNOWN = frozenset(WHISPER_LANGUAGES)
AUTO = "auto"
#: how much of a bad code an error message quotes
MAX_QUOTED_CODE = 16

#: key terms: at most this many, each at most this long (they become a decoder prompt of
#: at most ~220 tokens, half of Whisper's context; these bounds keep well inside it)
MAX_KEYTERMS = 20
MAX_KEYTERM_CHARS = 50
MAX_KEYTERMS_TOTAL_CHARS = 500


def _language(value: str) -> str:
    code = value.strip().lower()
    if code == AUTO or code in _KNOWN:
        return code
    raise ValueError(
        f"language {value[:MAX_QUOTED_CODE]!r} is not a language the models know; "
        f"use 'auto' or an ISO 639-1 code such as 'en', 'de', 'ja'"
    )


def _keyterm(value: str) -> str:
    term = " ".join(value.split())
    if not term:
        raise ValueError("a key term must not be blank")
    return term


def _keyterms(values: list[str]) -> list[str]:
    total = sum(len(v) for v in values)
    if total > MAX_KEYTERMS_TOTAL_CHARS:
        raise ValueError(f"key terms hold {total} characters in all; at most {MAX_KEYTERMS_TOTAL_CHARS} are allowed")
    return list(dict.fromkeys(values))  # a repeated term adds nothing to the prompt


Language = Annotated[str, AfterValidator(_language)]
Keyterm = Annotated[str, Field(min_length=1, max_length=MAX_KEYTERM_CHARS), AfterValidator(_keyterm)]
Keyterms = Annotated[list[Keyterm], Field(max_length=MAX_KEYTERMS), AfterValidator(_keyterms)]
Task = Literal["transcribe", "translate"]
LanguageDetection = Literal["per_session", "per_utterance"]


def is_language(code: str) -> bool:
    """True for a code Whisper knows (not ``auto``)."""
    return code in _KNOWN


def hotwords(keyterms: list[str] | tuple[str, ...]) -> str | None:
    """The key terms as one decoder prompt (faster-whisper's ``hotwords``), or None."""
    return ", ".join(keyterms) if keyterms else None
