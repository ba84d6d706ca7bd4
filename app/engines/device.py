"""Where an engine computes: which torch device it loads on (``cpu``, ``cuda``/``cuda:N``, or ``auto``:
the GPU when there is one; every torch-based engine asks here), and how many threads the native
math libraries under it may run."""

from __future__ import annotations

from typing import Any


def torch_device(torch: Any, device: str) -> str:
    """``device`` as a torch device name; ``torch`` is the module the caller imported lazily."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS pool in this process at ``threads`` (0: leave it as the library chose).

    OpenBLAS starts a thread per core and, after every call, keeps its threads spinning for a
    while: the mel filter bank of each Whisper call (a small matrix product) kept a second core
    busy for the length of the call. Measured on 2 cores, tiny.en partial calls of 1.2–2 s of audio:
    0.045–0.063 CPU-seconds a call with the default pool, 0.024–0.039 with one thread, the same
    wall time. A model deployment owns its process, so the cap is the engine's to set, when it loads
    (never at import).
    """
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
