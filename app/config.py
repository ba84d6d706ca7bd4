"""Typed configuration.

Two kinds, kept apart as pyannote keeps hyperparameters apart from resources:

* :class:`ServerSettings`: what the operator chooses (models, devices, limits).
  Loaded from ``serve_config.yaml``'s ``args`` or built in code.
* :class:`SessionOptions`: what each client may choose per session, sent in
  ``start_stream`` and changed with ``configure``.

Durations are seconds (floats) unless a name says otherwise; the seed's names
(``post_speech_silence``, ``min_speech_duration``) are kept for compatibility.
Validation messages quote the bad value and the allowed range.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from app.auth import AuthSettings
from app.enrich.settings import EnrichmentSettings
from app.errors import MAX_QUOTE, ConfigError, quote


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def _range(lo: float, hi: float, default: float, description: str) -> Any:
    return Field(default=default, ge=lo, le=hi, description=f"{description} ({lo} to {hi})")


# --------------------------------------------------------------------------- session options

AudioEncoding = Literal["pcm_s16le", "wav", "ogg", "mp3"]


class AudioOptions(_Strict):
    sample_rate: int = Field(16000, description="Hz of the audio the client sends (8000 to 48000); resampled to 16 kHz")
    encoding: AudioEncoding = Field("pcm_s16le", description="raw little-endian PCM16, or a wav/ogg/mp3 stream")
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


class SileroOptions(_Strict):
    enabled: bool = True
    sensitivity: float = _range(0.0, 1.0, 0.5, "speech probability threshold is 1 - sensitivity")
    use_onnx: bool = Field(
        True, description="ONNX runtime (no torch); false loads the TorchScript model and needs torch"
    )


class WebRtcOptions(_Strict):
    enabled: bool = True
    sensitivity: int = Field(
        3, ge=0, le=3, description="WebRTC VAD aggressiveness (0 to 3); 3 rejects the most non-speech"
    )


class VadOptions(_Strict):
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


class SentimentOptions(_Strict):
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


class TopicOptions(_Strict):
    enabled: bool = False
    min_confidence: float = _range(0.0, 1.0, 0.3, "topics scoring below this are not reported")
    topics: list[Topic] | None = Field(
        None,
        max_length=MAX_TOPICS,
        description=f"candidate topics (at most {MAX_TOPICS}, {MAX_TOPIC_CHARS} characters each); "
        "the server's list when absent",
    )


class ProfanityOptions(_Strict):
    enabled: bool = False
    extra_words: list[Phrase] = Field(
        default_factory=list,
        max_length=MAX_EXTRA_WORDS,
        description=f"at most {MAX_EXTRA_WORDS} words or phrases, {MAX_PHRASE_CHARS} characters each",
    )


class WakeWordOptions(_Strict):
    enabled: bool = False
    phrases: list[Phrase] = Field(
        default_factory=list,
        max_length=MAX_WAKE_PHRASES,
        description=f"at most {MAX_WAKE_PHRASES} phrases, {MAX_PHRASE_CHARS} characters each",
    )


class FeatureOptions(_Strict):
    interim_results: bool = True
    speaker_diarization: bool = False
    sentiment_analysis: SentimentOptions = Field(default_factory=SentimentOptions)
    topic_detection: TopicOptions = Field(default_factory=TopicOptions)
    profanity_filter: ProfanityOptions = Field(default_factory=ProfanityOptions)
    wake_words: WakeWordOptions = Field(default_factory=WakeWordOptions)


class FormattingOptions(_Strict):
    ensure_sentence_starting_uppercase: bool = True
    ensure_sentence_ends_with_period: bool = True
    print_transcription_time: bool = False


class SessionOptions(_Strict):
    """Per-session options: the body of ``start_stream.options`` and ``configure.options``."""

    language: str = Field("en", min_length=2, max_length=8, description="ISO 639-1 code; tiny.en only knows en")
    initial_prompt: str | None = Field(None, max_length=1000)
    audio: AudioOptions = Field(default_factory=AudioOptions)
    vad: VadOptions = Field(default_factory=VadOptions)
    features: FeatureOptions = Field(default_factory=FeatureOptions)
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


# --------------------------------------------------------------------------- server settings

Device = Literal["cpu", "cuda", "auto"]
ComputeType = Literal[
    "default",
    "auto",
    "int8",
    "int8_float16",
    "int8_float32",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]


class ModelSettings(_Strict):
    """One faster-whisper model and how it runs."""

    model: str = Field("tiny.en", description="bundled name, local CTranslate2 folder, or a faster-whisper name")
    compute_type: ComputeType = "int8"
    device: Device = "cpu"
    gpu_device_index: int | list[int] = 0
    cpu_threads: int = Field(1, ge=0, le=64)
    num_workers: int = Field(2, ge=1, le=16, description="parallel ctranslate2 workers (helps on CPU)")
    batch_size: int = Field(4, ge=1, le=64, description="requests a model batch may gather")
    batch_wait_timeout_s: float = Field(0.01, gt=0.0, le=1.0)
    batch_strategy: Literal["parallel", "stacked"] = Field(
        "parallel", description="parallel: one call a request on num_workers; stacked: one ctranslate2 batch (GPU)"
    )
    window: Literal["trimmed", "full"] = Field(
        "trimmed", description="trimmed: encoder sees the audio + window_padding_s; full: Whisper's 30 s window"
    )
    window_padding_s: float = Field(10.0, ge=1.0, le=30.0)
    beam_size: int = Field(1, ge=1, le=10)
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    word_timestamps: bool = True
    niceness: int = Field(
        0,
        ge=0,
        le=19,
        description="raise the replica's OS nice value by this much: on a shared CPU a realtime model at a "
        "higher value leaves the cores to finals first",
    )


class Limits(_Strict):
    max_frame_bytes: int = Field(8192, ge=1024, le=1 << 20, description="largest raw PCM frame accepted")
    max_encoded_frame_bytes: int = Field(65536, ge=1024, le=1 << 22, description="largest wav/ogg/mp3 frame")
    allowed_latency_limit: int = Field(
        100, ge=1, le=10000, description="unprocessed chunks queued before overflow handling"
    )
    max_realtime_factor: float = Field(
        4.0, ge=1.0, le=1000.0, description="audio faster than this x real time is refused"
    )
    realtime_burst_s: float = Field(
        10.0, ge=0.0, le=600.0, description="audio seconds a client may send ahead of real time"
    )
    max_sessions_per_client: int = Field(10, ge=1)
    max_sessions_per_replica: int = Field(200, ge=1)
    max_connections_per_client: int = Field(
        32, ge=1, description="open sockets of one client on one ingress replica (each session needs one or two)"
    )
    start_timeout_s: float = Field(
        10.0, gt=0.0, le=600.0, description="a socket that neither starts nor joins a session within this is closed"
    )
    idle_timeout_s: float = Field(60.0, gt=0.0)
    max_session_duration_s: float = Field(4 * 3600.0, gt=0.0)
    stop_wait_s: float = Field(5.0, ge=0.0, le=60.0, description="stop_stream waits this long for audio in flight")
    resume_grace_s: float = Field(30.0, ge=0.0, description="how long a session waits for its client to reconnect")
    max_buffer_s: float = Field(35.0, ge=35.0, le=600.0, description="audio each session buffers")


_DB_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class AudioRetentionSettings(_Strict):
    enabled: bool = Field(False, description="keep each session's audio as FLAC files")
    dir: str | None = Field(None, description="folder of the FLAC files; <data_dir>/audio when absent")
    retention_days: float = Field(30.0, gt=0.0, le=36500.0, description="files older than this are deleted")


class StoreSettings(_Strict):
    """Transcript storage (``app.store``): an SQLite file in ``data_dir`` unless ``database_url`` names
    a database (``postgresql+asyncpg://user@host:5432/db``; ``postgresql://`` and ``sqlite://`` are
    read as those drivers)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    enabled: bool = Field(True, description="false: nothing is stored, REST answers 503, no resume after restart")
    data_dir: str = Field(
        "./data", validate_default=True, description="SQLite file and retained audio; made absolute where validated"
    )
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL; sqlite+aiosqlite:///<data_dir>/rtstt.db")
    batch_window_s: float = Field(0.005, ge=0.0, le=1.0, description="writes gathered into one commit")
    heartbeat_interval_s: float = Field(10.0, gt=0.0, le=600.0, description="a host marks its sessions alive")
    interrupted_after_s: float = Field(60.0, gt=0.0, description="an unended session not marked alive is interrupted")
    audio_retention: AudioRetentionSettings = Field(default_factory=AudioRetentionSettings)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: str) -> str:
        # resolved where the settings are built (the driver): Ray workers may run in another folder
        return str(Path(v).expanduser().resolve())

    @field_validator("database_url")
    @classmethod
    def _scheme(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        scheme, sep, rest = v.get_secret_value().partition("://")
        if not sep or scheme not in _DB_SCHEMES:
            raise ValueError(
                f"database_url scheme {scheme[:30]!r} is not supported; use sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return SecretStr(f"{_DB_SCHEMES[scheme]}://{rest}")

    @model_validator(mode="after")
    def _liveness(self) -> StoreSettings:
        if self.interrupted_after_s < 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"interrupted_after_s {self.interrupted_after_s} must be at least twice "
                f"heartbeat_interval_s {self.heartbeat_interval_s}"
            )
        return self

    @property
    def url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / 'rtstt.db'}"

    @property
    def audio_dir(self) -> Path:
        return Path(self.audio_retention.dir or Path(self.data_dir) / "audio").expanduser().resolve()

    @classmethod
    def from_env(
        cls, data: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> StoreSettings:
        """``data`` (the serve config's ``store`` args), with ``STT_DATA_DIR`` and ``STT_DATABASE_URL`` filling
        in what it leaves out (a database password belongs in the environment, not in the config)."""
        env = os.environ if environ is None else environ
        merged = dict(data or {})
        for key, name in (("data_dir", "STT_DATA_DIR"), ("database_url", "STT_DATABASE_URL")):
            if merged.get(key) is None and env.get(name, "").strip():
                merged[key] = env[name].strip()
        return cls.model_validate(merged)


class ServerSettings(_Strict):
    realtime_model: ModelSettings = Field(default_factory=ModelSettings)
    main_model: ModelSettings = Field(default_factory=ModelSettings)
    limits: Limits = Field(default_factory=Limits)
    default_options: SessionOptions = Field(default_factory=SessionOptions)
    partial_min_interval_s: float = Field(0.1, ge=0.02, le=5.0, description="least audio between partials")
    partial_max_interval_s: float = Field(1.0, ge=0.05, le=10.0, description="interval when the realtime model lags")
    speculative_finals: bool = Field(
        True, description="start the main model when a pause begins, so the final is ready when the pause ends it"
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    enrichment: EnrichmentSettings = Field(default_factory=EnrichmentSettings)
