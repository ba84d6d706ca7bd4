"""pyannote.audio's speaker-embedding models as an optional Diarizer backend.

For operators who have pyannote's weights: ``pip install 'rtstt[pyannote]'`` and
``enrichment.diarization.backend: pyannote`` with ``pyannote_model`` naming a local
model folder (or a Hub id, downloaded on first use with ``HF_TOKEN`` where the Hub is
reachable and the model's terms were accepted). It cannot run offline out of the box:
no pyannote weights are packaged, and PyPI's torchaudio (which pyannote.audio needs)
is a CUDA build, so a CPU-only node needs torchaudio from PyTorch's CPU index.
Its cosine similarities are on another scale than Resemblyzer's: retune the
``threshold_*`` and ``change_threshold`` settings on your own speech.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.engines.device import torch_device
from app.engines.errors import BackendMissingError, EngineError
from app.enrich.ports import Embeddings, EmbedRequest
from app.transcript import SAMPLE_RATE

logger = logging.getLogger(__name__)


class PyannoteEngine:
    def __init__(self, model: str, *, window_s: float = 1.6, device: str = "cpu", warm_up: bool = True) -> None:
        self.window = int(window_s * SAMPLE_RATE)
        try:
            import torch
            from pyannote.audio.pipelines.speaker_verification import PretrainedSpeakerEmbedding
        except ImportError as exc:
            raise BackendMissingError(
                "the pyannote backend needs pyannote.audio (pip install 'rtstt[pyannote]') and a torchaudio "
                "matching torch; or use enrichment.diarization.backend: resemblyzer"
            ) from exc
        target = torch_device(torch, device)
        started = time.perf_counter()
        try:
            self._embed: Any = PretrainedSpeakerEmbedding(model, device=torch.device(target))
        except Exception as exc:
            raise EngineError(
                f"could not load pyannote model {model!r}: {type(exc).__name__} "
                "(a Hub id needs network access, HF_TOKEN and the model's accepted terms)"
            ) from exc
        self._torch = torch
        self._lock = threading.Lock()
        self.dim = int(self._embed.dimension)
        self.device = target
        logger.info("pyannote model %s loaded on %s in %.2f s", model, target, time.perf_counter() - started)
        if warm_up:
            self.embed(EmbedRequest(np.zeros(self.window, np.float32) + 1e-3, ((0, self.window),)))

    def embed(self, request: EmbedRequest) -> Embeddings:
        return self.embed_batch([request])[0]

    def embed_batch(self, requests: Sequence[EmbedRequest]) -> list[Embeddings]:
        chunks = []
        for r in requests:
            for start, end in r.windows:
                chunk = np.zeros(self.window, np.float32)
                piece = r.audio[start : min(end, start + self.window)]
                chunk[: len(piece)] = piece
                chunks.append(chunk)
        if not chunks:
            return [np.zeros((0, self.dim), np.float32) for _ in requests]
        with self._lock:
            waveforms = self._torch.from_numpy(np.stack(chunks)[:, None, :])
            raw = np.asarray(self._embed(waveforms), dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        out = np.where(norms > 0, raw / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
        result, at = [], 0
        for r in requests:
            result.append(out[at : at + len(r.windows)])
            at += len(r.windows)
        return result
