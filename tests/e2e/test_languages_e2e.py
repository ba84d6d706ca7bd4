"""Other languages through the real Serve stack: tiny.en for partials, Whisper base for finals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from app import protocol as p
from app.client import SttClient

pytestmark = pytest.mark.e2e

GERMAN = "clips/multilingual/picovoice_leopard_de.wav"


async def run(serve_url: str, path: Path, options: dict[str, Any]) -> list[p.ServerMessage]:
    """Stream ``path`` paced in real time, then stop: every message up to ``session_ended``."""
    seen: list[p.ServerMessage] = []
    async with SttClient(serve_url, api_key="key-a").stream(options=options) as s:

        async def send() -> None:
            await s.send_file(path, realtime=True)
            await s.stop()  # also when no message came after the last frame (partials off)

        sender = asyncio.create_task(send())
        seen = [msg async for msg in s]
        await sender
    return seen


async def test_auto_language_session_detects_german_with_german_partials(serve_url: str, shared_data: Path) -> None:
    seen = await run(serve_url, shared_data / GERMAN, {"language": "auto"})
    started = seen[0]
    assert isinstance(started, p.SessionStarted) and started.options.language == "auto"
    finals = [m for m in seen if isinstance(m, p.FinalResult)]
    assert finals and finals[0].data.language == "de"
    assert finals[0].data.language_probability is not None and finals[0].data.language_probability > 0.9
    text = " ".join(f.data.text for f in finals).lower()
    assert "portal" in text and "raum" in text, text
    # tiny.en cannot write German: the partials came from the main model, in German
    partials = [m for m in seen if isinstance(m, p.PartialResult)]
    assert partials and partials[-1].data.language == "de", [(m.data.text, m.data.language) for m in partials]
    assert isinstance(seen[-1], p.SessionEnded) and not [m for m in seen if isinstance(m, p.Error)]


async def test_translated_session_with_key_terms(serve_url: str, shared_data: Path) -> None:
    seen = await run(
        serve_url, shared_data / GERMAN, {"language": "de", "task": "translate", "features": {"interim_results": False}}
    )
    finals = [m for m in seen if isinstance(m, p.FinalResult)]
    text = " ".join(f.data.text for f in finals).lower()
    assert finals and {f.data.language for f in finals} == {"de"}
    assert "the" in text.split() and "diesem" not in text, text
    hot = await run(serve_url, shared_data / "clips" / "hotwords.mp3", {"keyterms": ["ComfyUI"]})
    assert "ComfyUI" in " ".join(m.data.text for m in hot if isinstance(m, p.FinalResult))


async def test_an_unknown_language_is_refused_by_the_server(serve_url: str) -> None:
    url = serve_url.replace("http://", "ws://") + "/v1/stream/control"
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer key-a"}) as control:
        await control.send(json.dumps({"type": "start_stream", "options": {"language": "xx" * 5000}}))
        error = p.parse_server_message(await control.recv())
    assert isinstance(error, p.Error) and error.code == "invalid_message" and not error.fatal
    assert "'xxxxxxxxxxxxxxxx' is not a language" in error.message and len(error.message) < 1000
