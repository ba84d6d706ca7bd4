"""Silero VAD's TorchScript model (``vad.silero.use_onnx: false``): the one VAD path that needs torch,
so it lives with the engines and is imported only when a session asks for it."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from app.vad.silero import Floats, VadUnavailable


class SileroJitStep:
    """Silero's TorchScript model as a stateless step (the ``vad.silero.use_onnx: false`` backend)."""

    def __init__(self, path: Path) -> None:
        try:
            # imported by name: mypy need not read torch
            torch: Any = importlib.import_module("torch")
        except ImportError as e:
            raise VadUnavailable("vad.silero.use_onnx=false needs torch, which is not installed; use ONNX") from e
        self._torch = torch
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript loading; Silero ships this model as TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location="cpu")
        model.eval()
        # The top-level module's forward(x, sr) keeps context and state inside the module,
        # which would tie it to one stream; its 16 kHz sub-network is a pure step like the ONNX graph.
        net = getattr(model, "_model", None)
        if net is None:
            raise VadUnavailable(f"{path.name} has no 16 kHz sub-network '_model'; use the ONNX model")
        self._net: Any = net

    def __call__(self, audio: Floats, state: Floats) -> tuple[float, Floats]:
        with self._torch.no_grad():
            out, new_state = self._net(self._torch.from_numpy(audio), self._torch.from_numpy(state))
        return float(out[0, 0]), np.asarray(new_state.numpy(), dtype=np.float32)
