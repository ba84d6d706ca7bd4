"""Native memory of the Whisper engines: oneDNN's primitive cache.

CTranslate2 runs the Whisper encoder's convolutions through oneDNN on x86 CPUs, and oneDNN compiles
one primitive per input shape and keeps up to 1,024 of them (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``).
The trimmed window's length follows the audio's, so almost every call has a shape of its own and
the cache only fills: measured with ``scripts/measure_engine_memory.py`` (README "Memory"), tiny.en's
RSS went from 230 MB loaded to 740 MB over 1,200 calls of 0.3–8 s, and base's from 320 MB to 770 MB
over 200 calls of 1–15 s, still climbing. Without the cache both level off within the first 200
calls (tiny.en ~300 MB, base ~460 MB) at the same CPU per call: the encoder's two convolutions are
cheap to set up beside the call. What the engine's threads free is given back when it falls idle
(:class:`app.heap.HeapTrimmer`).
"""

from __future__ import annotations

import os

#: oneDNN's setting, read once per process when it creates its first primitive
PRIMITIVE_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
#: no cache: a window length rarely comes twice
PRIMITIVE_CACHE_CAPACITY = 0


def limit_primitive_cache() -> str:
    """Turns oneDNN's primitive cache off in this process unless the environment sets it; returns the
    value in force. Must run before the process's first model call (it is read once)."""
    return os.environ.setdefault(PRIMITIVE_CACHE_ENV, str(PRIMITIVE_CACHE_CAPACITY))
