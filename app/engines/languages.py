"""Which language a model decodes a request in, and language detection on an encoder output."""

from __future__ import annotations

from typing import Any

from app.errors import ConfigError


def is_multilingual(model: Any) -> bool:
    """``model``: a ``faster_whisper.WhisperModel``; English-only ones (``*.en``) are not."""
    return bool(model.model.is_multilingual)


def model_language(model: Any, language: str | None) -> str | None:
    """The language to decode a ``language`` request in: None to detect it.

    An English-only model writes English whatever was asked (callers that must not
    get English for another language check :func:`can_decode` first);
    :class:`ConfigError` when a multilingual model lacks the language.
    """
    if not is_multilingual(model):
        return "en"
    if language is None:
        return None
    if language not in model.supported_languages:
        raise ConfigError(f"language {language[:16]!r} is not supported by this model; use an ISO 639-1 code")
    return language


def can_decode(model: Any, language: str | None) -> bool:
    """Whether ``model`` can decode ``language`` (None: detect it) as asked."""
    if is_multilingual(model):
        return language is None or language in model.supported_languages
    return language == "en"


def detect_language(model: Any, encoder_output: Any) -> list[tuple[str, float]]:
    """(language, probability) of each clip in ``encoder_output``: Whisper's language token
    after the start of transcript (one decoder step), as faster-whisper's ``detect_language``."""
    out = []
    for ranked in model.model.detect_language(encoder_output):
        token, probability = ranked[0]
        out.append((str(token)[2:-2], float(probability)))
    return out
