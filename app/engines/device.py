"""Which torch device an engine loads on: ``cpu``, ``cuda`` (``cuda:N``), or ``auto`` (the GPU when
there is one). Every torch-based engine (sentence, sentiment, Resemblyzer, pyannote) asks here."""

from __future__ import annotations

from typing import Any


def torch_device(torch: Any, device: str) -> str:
    """``device`` as a torch device name; ``torch`` is the module the caller imported lazily."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
