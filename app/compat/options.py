"""The one table from the vendors' parameters to this service's session options.

Every compatible endpoint describes what its caller asked for as a :class:`Wanted` (vendor-neutral)
and gets :class:`~app.config.SessionOptions` from :func:`session_options`. Options that this
service does not have yet (they are being added) are applied only where the options model has
them (:data:`PENDING`), so that they start working the day they exist, with no change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.errors import ConfigError
from app.languages import AUTO
from app.options import FormattingOptions, SessionOptions

#: option → whether this build's SessionOptions has it (session options of the languages work)
PENDING: dict[str, bool] = {
    "keyterms": "keyterms" in SessionOptions.model_fields,
    "task": "task" in SessionOptions.model_fields,
    "formatting.numerals": "numerals" in FormattingOptions.model_fields,
}
#: the ``language`` value that asks the main model to detect the language (app.languages)
LANGUAGE_AUTO: str | None = AUTO

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
VAD_MIN_S, VAD_MAX_S = 0.1, 5.0  # the allowed range of vad.post_speech_silence


@dataclass(slots=True)
class Wanted:
    """What a caller asked for, in this service's terms; ``None`` keeps the server's default."""

    encoding: str | None = None  # an AudioOptions encoding
    sample_rate: int | None = None
    channels: int | None = None
    language: str | None = None  # a BCP-47 tag, or "auto"
    prompt: str | None = None
    keyterms: list[str] = field(default_factory=list)
    numerals: bool | None = None
    translate: bool = False
    interim_results: bool | None = None
    end_silence_s: float | None = None  # silence that ends an utterance (vad.post_speech_silence)
    diarize: bool | None = None
    profanity_filter: bool | None = None


def session_options(base: SessionOptions, wanted: Wanted) -> SessionOptions:
    """``base`` (the server's defaults) with ``wanted`` applied; raises :class:`ConfigError` naming the field."""
    patch: dict[str, Any] = {}
    audio = {"encoding": wanted.encoding, "sample_rate": wanted.sample_rate, "channels": wanted.channels}
    if any(v is not None for v in audio.values()):
        patch["audio"] = {k: v for k, v in audio.items() if v is not None}
    if wanted.language is not None:
        patch["language"] = language(wanted.language)
    if wanted.prompt:
        patch["initial_prompt"] = wanted.prompt[:1000]  # the option's own limit; OpenAI allows longer
    if wanted.keyterms and PENDING["keyterms"]:
        patch["keyterms"] = wanted.keyterms
    if wanted.numerals is not None and PENDING["formatting.numerals"]:
        patch["formatting"] = {"numerals": wanted.numerals}
    if wanted.translate and PENDING["task"]:
        patch["task"] = "translate"
    features: dict[str, Any] = {}
    if wanted.interim_results is not None:
        features["interim_results"] = wanted.interim_results
    if wanted.diarize is not None:
        features["speaker_diarization"] = wanted.diarize
    if wanted.profanity_filter is not None:
        features["profanity_filter"] = {"enabled": wanted.profanity_filter}
    if features:
        patch["features"] = features
    if wanted.end_silence_s is not None:
        silence = min(VAD_MAX_S, max(VAD_MIN_S, wanted.end_silence_s))
        patch["vad"] = {"post_speech_silence": silence, "split_pause": min(base.vad.split_pause, silence)}
    return base.merged(patch)


def language(tag: str) -> str:
    """A vendor's language tag (``en-US``, ``en``, ``multi``) as this service's option value."""
    tag = tag.strip()
    if tag.lower() in ("multi", "auto"):
        if LANGUAGE_AUTO is None:
            raise ConfigError("language detection is not available on this server; name the language")
        return LANGUAGE_AUTO
    if not _LANGUAGE.match(tag):
        raise ConfigError(f"language {tag[:20]!r} is not a language tag such as 'en' or 'en-US'")
    return tag.split("-")[0].split("_")[0].lower()


def not_applied(wanted: Wanted) -> list[str]:
    """What ``wanted`` asks for that this server cannot do yet (ignored; for the docs and logs)."""
    missing = []
    if wanted.keyterms and not PENDING["keyterms"]:
        missing.append("keyterms")
    if wanted.numerals and not PENDING["formatting.numerals"]:
        missing.append("numerals")
    if wanted.translate and not PENDING["task"]:
        missing.append("translate")
    return missing
