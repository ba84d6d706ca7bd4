"""The core must import without Ray or torch (STYLE.md: heavy imports only in engines, lazily)."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = [
    "app",
    "app.protocol",
    "app.config",
    "app.errors",
    "app.audio",
    "app.vad",
    "app.streaming.agreement",
    "app.streaming.guards",
    "app.streaming.policy",
    "app.session.controller",
    "app.engines",
    "app.cli",
    "app.client.commands",  # `stt` starts without Ray or a model library
    "app.enrich.enrichers",
    "app.enrich.local",
    "app.engines.speaker",
    "app.engines.analysis",
]


def test_core_imports_neither_ray_nor_torch() -> None:
    code = (
        "import sys\n"
        f"for m in {CORE_MODULES!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'ray', 'torch', 'faster_whisper', 'ctranslate2'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by the core: {out.stdout.strip()}"
