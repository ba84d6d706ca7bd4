"""Per-session options: what each client may choose, sent in ``start_stream.options`` and
patched with ``configure`` (the server's own settings are :mod:`app.config`).

Durations are seconds (floats) unless a name says otherwise; the seed's names
(``post_speech_silence``, ``min_speech_duration``) are kept for compatibility.
Validation messages quote the bad value (bounded) and the allowed range.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.errors import MAX_QUOTE, ConfigError, quote
from app.languages import (
    MAX_KEYTERM_CHARS,
    MAX_KEYTERMS,
    MAX_KEYTERMS_TOTAL_CHARS,
    Keyterms,
    Language,
    LanguageDetection,
    Task,
)


class Strict(BaseModel):
    """The base of options and settings: unknown fields are refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def _range(lo: float, hi: float, default: float, description: str) -> Any:
    return Field(default=default, ge=lo, le=hi, description=f"{description} ({lo} to {hi})")


AudioEncoding = Literal["pcm_s16le", "pcm_mulaw", "pcm_alaw", "wav", "ogg", "mp3"]


class AudioOptions(Strict):
    sample_rate: int = Field(16000, description="Hz of the audio the client sends (8000 to 48000); resampled to 16 kHz")
    encoding: AudioEncoding = Field(
        "pcm_s16le", description="raw little-endian PCM16, raw G.711 mu-law or A-law (telephony), or wav/ogg/mp3"
    )
    channels: int = Field(1, description="1 or 2; stereo is mixed down to mono")
    buffer_size: int = Field(
        512, description="expected samples a chunk (for pacing and docs; any size up to the frame limit is accepted)"
    )
    handle_buffer_overflow: bool = Field(
        True,
        description="true: when the session falls behind, drop the oldest unprocessed audio and warn; "
        "false: reject the newest audio with a buffer_overflow error",
    )

    @field_validator("sample_rate")
    @classmethod
    def _rate(cls, v: int) -> int:
        if not 8000 <= v <= 48000:
            raise ValueError(f"sample_rate {v} is not supported; use 8000 to 48000 Hz")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: int) -> int:
        if v not in (1, 2):
            raise ValueError(f"channels {v} is not supported; use 1 or 2")
        return v

    @field_validator("buffer_size")
    @classmethod
    def _buffer(cls, v: int) -> int:
        if not 160 <= v <= 16384:
            raise ValueError(f"buffer_size {v} is out of range; use 160 to 16384 samples")
        return v


class SileroOptions(Strict):
    enabled: bool = True
    sensitivity: float = _range(0.0, 1.0, 0.5, "speech probability threshold is 1 - sensitivity")
    use_onnx: bool = Field(
        True, description="ONNX runtime (no torch); false loads the TorchScript model and needs torch"
    )


class WebRtcOptions(Strict):
    enabled: bool = True
    sensitivity: int = Field(
        3, ge=0, le=3, description="WebRTC VAD aggressiveness (0 to 3); 3 rejects the most non-speech"
    )


class VadOptions(Strict):
    silero: SileroOptions = Field(default_factory=SileroOptions)
    webrtc: WebRtcOptions = Field(default_factory=WebRtcOptions)
    post_speech_silence: float = _range(0.1, 5.0, 0.6, "seconds of silence that end an utterance")
    min_speech_duration: float = _range(0.0, 5.0, 0.25, "seconds of speech needed before an utterance starts")
    pre_roll: float = _range(0.0, 2.0, 0.3, "seconds of audio kept before speech start")
    max_utterance: float = _range(2.0, 30.0, 15.0, "seconds after which the utterance is split at the next short pause")
    split_pause: float = _range(0.05, 2.0, 0.2, "seconds of silence that split an over-long utterance")

    @model_validator(mode="after")
    def _split(self) -> VadOptions:
        if self.split_pause > self.post_speech_silence:
            raise ValueError(
                f"split_pause {self.split_pause} must not exceed post_speech_silence {self.post_speech_silence}"
            )
        return self


class SentimentOptions(Strict):
    enabled: bool = False
    granularity: Literal["sentence", "utterance"] = "sentence"
    min_confidence: float = _range(0.0, 1.0, 0.5, "results below this score are reported as neutral")


#: bounds of the option lists (topics, profanity words, wake phrases): count, and characters an entry
MAX_TOPICS = 50
MAX_TOPIC_CHARS = 500
MAX_EXTRA_WORDS = 200
MAX_WAKE_PHRASES = 20
MAX_PHRASE_CHARS = 100

Topic = Annotated[str, Field(min_length=1, max_length=MAX_TOPIC_CHARS)]
Phrase = Annotated[str, Field(min_length=1, max_length=MAX_PHRASE_CHARS)]


class TopicOptions(Strict):
    enabled: bool = False
    min_confidence: float = _range(0.0, 1.0, 0.3, "topics scoring below this are not reported")
    topics: list[Topic] | None = Field(
        None,
        max_length=MAX_TOPICS,
        description=f"candidate topics (at most {MAX_TOPICS}, {MAX_TOPIC_CHARS} characters each); "
        "the server's list when absent",
    )


class ProfanityOptions(Strict):
    enabled: bool = False
    extra_words: list[Phrase] = Field(
        default_factory=list,
        max_length=MAX_EXTRA_WORDS,
        description=f"at most {MAX_EXTRA_WORDS} words or phrases, {MAX_PHRASE_CHARS} characters each",
    )


class WakeWordOptions(Strict):
    enabled: bool = False
    phrases: list[Phrase] = Field(
        default_factory=list,
        max_length=MAX_WAKE_PHRASES,
        description=f"at most {MAX_WAKE_PHRASES} phrases, {MAX_PHRASE_CHARS} characters each",
    )


class FeatureOptions(Strict):
    interim_results: bool = True
    speaker_diarization: bool = False
    sentiment_analysis: SentimentOptions = Field(default_factory=SentimentOptions)
    topic_detection: TopicOptions = Field(default_factory=TopicOptions)
    profanity_filter: ProfanityOptions = Field(default_factory=ProfanityOptions)
    wake_words: WakeWordOptions = Field(default_factory=WakeWordOptions)


class DiarizationOptions(Strict):
    split_on_speaker_change: bool = Field(
        True,
        description="with features.speaker_diarization: end an utterance where the speaker changes "
        "(utterance_end reason speaker_change), so that each final is one speaker's turn",
    )


class FormattingOptions(Strict):
    ensure_sentence_starting_uppercase: bool = True
    ensure_sentence_ends_with_period: bool = True
    print_transcription_time: bool = False
    numerals: bool = Field(False, description="finals: spelled-out numbers as digits (twenty one → 21)")


class SessionOptions(Strict):
    """Per-session options: the body of ``start_stream.options`` and ``configure.options``."""

    language: Language = Field("en", description="ISO 639-1 code, or auto: detected by the main model")
    language_detection: LanguageDetection = Field(
        "per_session", description="with language auto: detect once a session, or for every utterance"
    )
    task: Task = Field("transcribe", description="translate: finals in English, whatever language is spoken")
    keyterms: Keyterms = Field(
        default_factory=list,
        description=f"words and phrases to expect (names, products), at most {MAX_KEYTERMS} of "
        f"{MAX_KEYTERM_CHARS} characters each, {MAX_KEYTERMS_TOTAL_CHARS} in all",
    )
    initial_prompt: str | None = Field(None, max_length=1000)
    audio: AudioOptions = Field(default_factory=AudioOptions)
    vad: VadOptions = Field(default_factory=VadOptions)
    features: FeatureOptions = Field(default_factory=FeatureOptions)
    diarization: DiarizationOptions = Field(default_factory=DiarizationOptions)
    formatting: FormattingOptions = Field(default_factory=FormattingOptions)

    def merged(self, patch: dict[str, Any]) -> SessionOptions:
        """These options with a (nested, partial) patch applied; raises :class:`ConfigError`."""
        return parse_session_options(_deep_merge(self.model_dump(), patch))


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line a client can act on: the field path, the bad value, the rule."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        # field names may be the client's own (an unknown key): quoted, bounded, like values
        loc = ".".join(str(p)[:MAX_QUOTE] for p in (prefix, *err["loc"]) if p != "")[: 2 * MAX_QUOTE]
        msg = err["msg"].removeprefix("Value error, ")[: 4 * MAX_QUOTE]
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            parts.append(f"{loc}: unknown field")
        elif isinstance(value, dict | list):
            parts.append(f"{loc}: {msg}")
        else:
            parts.append(f"{loc}: {msg} (got {quote(value)})")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_session_options(data: Any) -> SessionOptions:
    try:
        return SessionOptions.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "options")) from exc
