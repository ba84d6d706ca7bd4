"""The server's settings: what the operator chooses (models, devices, limits, auth, store).

Loaded from ``serve_config.yaml``'s ``args`` or built in code. Kept apart from what each client
may choose per session (:mod:`app.options`), as pyannote keeps hyperparameters apart from
resources. Durations are seconds unless a name says otherwise; validation messages quote the bad
value and the allowed range.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from app.auth import AuthSettings
from app.batch.settings import PrerecordedSettings
from app.enrich.settings import EnrichmentSettings
from app.options import SessionOptions
from app.options import Strict as _Strict

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
    cache_dir: str | None = Field(
        None,
        description="where a model shipped in pieces (base) is put together once; "
        "$STT_MODEL_CACHE or ~/.cache/rtstt/models when absent",
    )
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
    window_fill: Literal["silence", "zeros"] = Field(
        "zeros",
        description="what fills the trimmed window after the audio: zeros (faster-whisper's pad_or_trim: "
        "a loud, noise-like floor; best for tiny.en) or silence (Whisper's log-mel of silence; Whisper "
        "base needs it, with zeros it cuts sentences short)",
    )
    without_timestamps: bool = Field(False, description="decode text only, without timestamp tokens")
    beam_size: int = Field(1, ge=1, le=10)
    first_pass_tokens_per_s: float | None = Field(
        6.0,
        ge=1.0,
        le=50.0,
        description="greedy decoding (beam_size 1) only: decode first with a cap of 8 + this many tokens a "
        "second of audio, and again with the full cap only when that pass was cut short with no "
        "repetition loop in it (the decoder loops on short windows and each token costs; speech is "
        "~3-6 tokens a second); null: one pass",
    )
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    word_timestamps: bool = True
    timeout_s: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="a call that takes longer is abandoned: a partial is dropped, a final is retried once",
    )
    retry_timeout_s: float = Field(
        120.0,
        gt=0.0,
        le=3600.0,
        description="how long a final's retry may take: it may wait for a replica that replaces a dead one to start",
    )
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
    max_streams: int = Field(
        0,
        ge=0,
        description="live sessions the whole app admits (its measured real-time capacity); a new one past it is "
        "refused with at_capacity; 0: no limit",
    )
    falling_behind_s: float = Field(
        3.0, gt=0.0, le=600.0, description="a session whose finals lag its audio by more than this is warned"
    )
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
    resume_burst_s: float = Field(
        60.0,
        ge=0.0,
        le=600.0,
        description="audio seconds a resume that re-sends audio (audio_offset_bytes) may send beyond the pace limit",
    )
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


def main_model_defaults() -> ModelSettings:
    """Whisper base, decoded as ``scripts/measure_main_model.py`` chose on the shared clips."""
    return ModelSettings(model="base", window="trimmed", window_padding_s=5.0, window_fill="silence", beam_size=5)


class ServerSettings(_Strict):
    realtime_model: ModelSettings = Field(default_factory=ModelSettings)
    main_model: ModelSettings = Field(default_factory=main_model_defaults)
    partial_fallback: Literal["main", "none"] = Field(
        "main",
        description="partials in a language the realtime model cannot decode (tiny.en: any but English): "
        "from the main model, or none",
    )
    limits: Limits = Field(default_factory=Limits)
    default_options: SessionOptions = Field(default_factory=SessionOptions)
    partial_min_interval_s: float = Field(0.1, ge=0.02, le=5.0, description="least audio between partials")
    partial_max_interval_s: float = Field(1.0, ge=0.05, le=10.0, description="interval when the realtime model lags")
    partials_tail_only: bool = Field(
        True,
        description="a partial decodes only the audio after the committed words (false: the utterance from its "
        "start, whose cost grows with it; kept to measure the difference)",
    )
    partial_commit_margin_s: float = Field(
        0.5,
        ge=0.0,
        le=3.0,
        description="a partial's word becomes stable only once the audio heard runs this long past its end "
        "(a word judged on too little audio after it, the first words of an utterance above all, is often wrong)",
    )
    speculative_finals: bool = Field(
        True, description="start the main model when a pause begins, so the final is ready when the pause ends it"
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    enrichment: EnrichmentSettings = Field(default_factory=EnrichmentSettings)
    prerecorded: PrerecordedSettings = Field(default_factory=PrerecordedSettings)
