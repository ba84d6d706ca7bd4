"""Adapters over the model libraries (faster-whisper, ...).

Importing this package loads no model library: each engine imports its backend
when it is constructed, so the core stays importable without them.
"""

from __future__ import annotations

from app.engines.errors import BackendMissingError, EngineError, ModelNotFoundError
from app.engines.resolve import resolve_model
from app.engines.whisper import WhisperEngine, WhisperTranscriber

__all__ = [
    "BackendMissingError",
    "EngineError",
    "ModelNotFoundError",
    "WhisperEngine",
    "WhisperTranscriber",
    "resolve_model",
]
