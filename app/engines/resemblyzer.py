"""Resemblyzer's speaker encoder (GE2E, 256-d) as the Diarizer's embedding model.

Its weights ship inside the ``resemblyzer`` package, so it runs offline. Every window
is cut to the same length (``window_s``, zero-padded at its end when the speech is
shorter, as Resemblyzer pads its own partials), so one forward pass embeds the windows
of many requests at once. Measured on this machine's CPU: ~16 ms for one 1.6 s window.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.engines.device import limit_blas_threads, torch_device
from app.engines.errors import BackendMissingError, EngineError
from app.enrich.ports import Embeddings, EmbedRequest
from app.transcript import SAMPLE_RATE

logger = logging.getLogger(__name__)

#: windows per forward pass: bounds the memory of one batch
MAX_WINDOWS_PER_PASS = 64


class ResemblyzerEngine:
    """A loaded, warmed speaker encoder; :meth:`embed_batch` is safe to call from several threads."""

    dim = 256

    def __init__(
        self, *, window_s: float = 1.6, device: str = "cpu", cpu_threads: int = 0, warm_up: bool = True
    ) -> None:
        self.window = int(window_s * SAMPLE_RATE)
        torch, encoder_cls, mel = _import_backend()
        if cpu_threads > 0:  # process-wide: one thread keeps a shared, busy machine from stalling it
            torch.set_num_threads(cpu_threads)
        limit_blas_threads(cpu_threads)  # the mel spectrogram's matrix product (librosa, numpy)
        target = torch_device(torch, device)
        started = time.perf_counter()
        try:
            self._encoder = encoder_cls(device=target, verbose=False).eval()
        except Exception as exc:
            raise EngineError(f"could not load Resemblyzer's encoder on {target}: {type(exc).__name__}") from exc
        self._torch = torch
        self._mel = mel
        self._lock = threading.Lock()  # torch modules are not documented thread-safe
        self.device = target
        logger.info("Resemblyzer loaded on %s in %.2f s", target, time.perf_counter() - started)
        self.warmup_s = self._warm_up() if warm_up else 0.0

    def embed(self, request: EmbedRequest) -> Embeddings:
        return self.embed_batch([request])[0]

    def embed_batch(self, requests: Sequence[EmbedRequest]) -> list[Embeddings]:
        """One array of shape ``(len(request.windows), 256)`` a request."""
        mels = [self._window_mel(r.audio, span) for r in requests for span in r.windows]
        out = np.zeros((len(mels), self.dim), np.float32)
        for i in range(0, len(mels), MAX_WINDOWS_PER_PASS):
            out[i : i + MAX_WINDOWS_PER_PASS] = self._forward(mels[i : i + MAX_WINDOWS_PER_PASS])
        result, at = [], 0
        for r in requests:
            result.append(out[at : at + len(r.windows)])
            at += len(r.windows)
        return result

    def _window_mel(self, audio: np.ndarray, span: tuple[int, int]) -> np.ndarray:
        start, end = span
        if not 0 <= start < end <= len(audio):
            raise ValueError(f"window {span} is outside audio of {len(audio)} samples")
        chunk = np.zeros(self.window, np.float32)
        piece = audio[start : min(end, start + self.window)]
        chunk[: len(piece)] = piece
        mel: np.ndarray = self._mel(chunk)
        return mel

    def _forward(self, mels: list[np.ndarray]) -> np.ndarray:
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = torch.from_numpy(np.stack(mels)).to(self._encoder.device)
            result: np.ndarray = self._encoder(batch).cpu().numpy()
        return result

    def _warm_up(self) -> float:
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        noise = (rng.standard_normal(self.window) * 1e-2).astype(np.float32)
        self.embed(EmbedRequest(noise, ((0, self.window),)))
        return time.perf_counter() - started


def _import_backend() -> tuple[Any, Any, Any]:
    try:
        import torch

        with warnings.catch_warnings():
            # resemblyzer.audio imports scipy.ndimage.morphology, deprecated in SciPy 1.x
            warnings.simplefilter("ignore", DeprecationWarning)
            from resemblyzer import VoiceEncoder
            from resemblyzer.audio import wav_to_mel_spectrogram
    except ImportError as exc:
        raise BackendMissingError(
            "Resemblyzer is not installed; pip install --no-deps resemblyzer==0.1.4 (see the Makefile)"
        ) from exc
    return torch, VoiceEncoder, wav_to_mel_spectrogram
