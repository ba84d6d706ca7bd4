"""Server settings of pre-recorded (batch) transcription: upload limits and how much runs at once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PrerecordedSettings(BaseModel):
    """``settings.prerecorded``: the limits of ``POST /v1/listen`` (Deepgram) and ``POST
    /v1/audio/transcriptions`` / ``translations`` (OpenAI)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="false: the pre-recorded endpoints answer 503")
    max_upload_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, le=4 * 1024**3, description="largest upload accepted (HTTP 413 past it)"
    )
    max_duration_s: float = Field(
        4 * 3600.0, gt=0.0, le=48 * 3600.0, description="longest audio accepted (decoding stops past it)"
    )
    concurrency: int = Field(
        8, ge=1, le=256, description="utterances of a file in flight to the main model at once (batched there)"
    )
    max_jobs: int = Field(
        2, ge=1, le=64, description="files transcribed at once by one ingress replica; more answer 429"
    )
