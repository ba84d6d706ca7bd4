"""A transformers model and its tokenizer from a local folder (disk only: ``local_files_only``), for
the sentence encoder (topics) and a sentiment classifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.engines.device import torch_device
from app.engines.errors import BackendMissingError, EngineError, ModelNotFoundError


@dataclass(frozen=True)
class LocalModel:
    torch: Any  # the torch module, imported here
    tokenizer: Any
    model: Any  # in eval mode, on ``device``
    device: Any


def load_local(folder: Path, auto_class: str, *, what: str, needed_for: str, device: str) -> LocalModel:
    """``transformers.<auto_class>`` and ``AutoTokenizer`` from ``folder``; ``what`` names the model in
    errors ("sentence model"), ``needed_for`` what lacks without transformers ("topic detection")."""
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"{what} folder {str(folder)!r} has no config.json")
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendMissingError(f"transformers and torch are needed for {needed_for}") from exc
    target = torch_device(torch, device)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = getattr(transformers, auto_class).from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise EngineError(f"could not load the {what} from {str(folder)!r}: {type(exc).__name__}") from exc
    return LocalModel(torch, tokenizer, model.eval().to(target), target)
