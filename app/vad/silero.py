"""Silero VAD through onnxruntime, without torch or the ``silero_vad`` package's Python code.

The ``silero_vad`` package ships the model files but its ``__init__`` imports
torch, so only its data folder is used here (found with
``importlib.util.find_spec``, which does not run the package). What its
``OnnxWrapper`` does per 512-sample frame is replicated in numpy: prepend the
last 64 samples of the previous frame as context, and carry the recurrent
state (shape ``[2, 1, 128]``) from call to call.

The network is stateless once the state is an input, so one model is loaded per
process (lazily, on first use) and shared by every stream; each stream keeps
its own context and state in a :class:`SileroScorer`. onnxruntime sessions
may be run from several threads at once. The ONNX session uses one intra-op
thread: a frame costs ~0.15 ms, and more threads only add overhead.

``use_onnx=False`` runs the TorchScript model instead (needs torch:
:mod:`app.engines.silero_jit`, imported only then); its 16 kHz sub-network takes the
same ``(audio with context, state)`` inputs, so it is shared the same way. This module
never imports torch: outside ``app/engines/`` the core imports no model library.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.options import SileroOptions
from app.transcript import SAMPLE_RATE, Audio
from app.vad.framing import FRAME_SAMPLES

CONTEXT_SAMPLES = 64
"""Samples of the previous frame Silero sees before each 512-sample frame at 16 kHz."""

STATE_SHAPE = (2, 1, 128)

ONNX_MODEL = "silero_vad.onnx"
JIT_MODEL = "silero_vad.jit"

#: the offset threshold is this much below the onset one (Silero's own ``neg_threshold`` default)
HYSTERESIS = 0.15

#: skipped frames kept, and scored unseen when the gate reopens (256 ms). The recurrent state then
#: matches an ungated run's instead of being stale (measured: a state left over from speech made Silero
#: call 2 s of white noise that followed 1.5 s of skipped silence speech) or zero (a zero state needs
#: ~5 frames to trust speech, and quiet onsets in noise were missed while WebRTC flickered)
WARMUP_FRAMES = 8

Floats = npt.NDArray[np.float32]


class VadUnavailable(RuntimeError):
    """The Silero model or its runtime cannot be loaded (an installation problem, not a client error)."""


def model_path(filename: str = ONNX_MODEL) -> Path:
    """Path of a model file shipped in the ``silero_vad`` package's ``data`` folder."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadUnavailable("the silero-vad package is not installed; it ships the Silero VAD model files")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / filename
        if path.is_file():
            return path
    raise VadUnavailable(f"the silero-vad package has no data/{filename}; reinstall silero-vad")


class _Step(Protocol):
    """One network step: ``(audio [1, 576], state [2, 1, 128]) -> (speech probability, new state)``."""

    def __call__(self, audio: Floats, state: Floats) -> tuple[float, Floats]: ...


class _OnnxStep:
    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - a hard dependency
            raise VadUnavailable("onnxruntime is not installed; it runs the Silero VAD model") from e
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: the model's unused initializers warn at load
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def __call__(self, audio: Floats, state: Floats) -> tuple[float, Floats]:
        out, new_state = self._session.run(["output", "stateN"], {"input": audio, "state": state, "sr": self._sr})
        return float(out[0, 0]), np.asarray(new_state, dtype=np.float32)


_lock = threading.Lock()
_steps: dict[bool, _Step] = {}


def _shared_step(use_onnx: bool) -> _Step:
    """The process-wide model for a backend, loaded on first use."""
    with _lock:
        step = _steps.get(use_onnx)
        if step is None:
            if use_onnx:
                step = _OnnxStep(model_path(ONNX_MODEL))
            else:  # the TorchScript model needs torch: an engine, imported only when asked for
                from app.engines.silero_jit import SileroJitStep

                step = SileroJitStep(model_path(JIT_MODEL))
            _steps[use_onnx] = step
        return step


def load_model(use_onnx: bool = True) -> None:
    """Load the shared model now (for warm-up at start-up) instead of on the first frame."""
    _shared_step(use_onnx)


class SileroScorer:
    """One stream's Silero VAD: its context, recurrent state and thresholds.

    ``threshold`` is ``1 - sensitivity``: a frame is speech when its probability
    reaches it, and, while the previous frame was speech, when it reaches
    ``threshold - 0.15`` (the hysteresis Silero's own iterator uses, so speech
    does not flicker at word edges).
    """

    def __init__(self, options: SileroOptions) -> None:
        self._step = _shared_step(options.use_onnx)
        self.threshold = 1.0 - options.sensitivity
        self.release_threshold = max(0.0, self.threshold - HYSTERESIS)
        self._input = np.zeros((1, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._skipped_frames = np.zeros((WARMUP_FRAMES, FRAME_SAMPLES), dtype=np.float32)
        self._skipped = 0  # frames skipped since the last scored one

    def probability(self, frame: Audio) -> float:
        """Speech probability of one 512-sample frame; advances the stream."""
        self._check(frame)
        if self._skipped:
            self._catch_up()
        return self._score(frame)

    def is_speech(self, probability: float, previous_was_speech: bool) -> bool:
        return probability >= (self.release_threshold if previous_was_speech else self.threshold)

    def skip(self, frame: Audio) -> None:
        """Advance past a frame without scoring it now (the gate called it silence).

        The last :data:`WARMUP_FRAMES` skipped frames are scored before the next
        frame is: after a short skip the state is exactly an ungated run's; after
        a longer one it restarts from zero on the last 256 ms of audio.
        """
        self._check(frame)
        self._skipped_frames[self._skipped % WARMUP_FRAMES] = frame
        self._skipped += 1

    def reset(self) -> None:
        """Forget the stream so far."""
        self._input.fill(0.0)
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._skipped = 0

    def _catch_up(self) -> None:
        skipped, self._skipped = self._skipped, 0
        if skipped <= WARMUP_FRAMES:
            order = range(skipped)
        else:
            self.reset()
            order = range(skipped % WARMUP_FRAMES, skipped % WARMUP_FRAMES + WARMUP_FRAMES)
        for i in order:
            self._score(self._skipped_frames[i % WARMUP_FRAMES])

    def _score(self, frame: Audio) -> float:
        self._input[0, CONTEXT_SAMPLES:] = frame
        prob, self._state = self._step(self._input, self._state)
        self._input[0, :CONTEXT_SAMPLES] = self._input[0, -CONTEXT_SAMPLES:]
        return prob

    @staticmethod
    def _check(frame: Audio) -> None:
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"Silero takes {FRAME_SAMPLES}-sample frames at 16 kHz, got {len(frame)} samples")
