"""Admission control through the real Serve app: past limits.max_streams a new session is refused
with at_capacity (close 1013, "try again later"), the admitted ones go on, and an ended session
frees its place."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest

from app import protocol as p
from app.client import SttClient, SttClientError
from app.client.stream import SttStream
from tests.serve_app import MAX_STREAMS

pytestmark = pytest.mark.e2e

KEYS = ("key-a", "key-b", "key-c")  # three clients: their own limits (4 each) are not what refuses


async def test_the_app_refuses_past_its_capacity_and_admits_again(serve_url: str, shared_data: Path) -> None:
    opened: list[SttStream] = []
    refused: SttClientError | None = None
    keys = itertools.cycle(KEYS)
    try:
        # sessions earlier tests left open count too: the refusal may come before MAX_STREAMS of ours
        for _ in range(MAX_STREAMS + 1):
            stream = SttClient(serve_url, api_key=next(keys)).stream()
            try:
                opened.append(await stream.open())
            except SttClientError as exc:
                refused = exc
                break
        assert refused is not None, f"{len(opened)} sessions admitted past a capacity of {MAX_STREAMS}"
        assert refused.code == "at_capacity" and refused.close_code == 1013
        assert "retry later" in refused.message
        # an admitted session still transcribes
        first = opened.pop(0)
        await first.send_file(shared_data / "clips" / "sb_spk2_snt5.wav", realtime=False)
        await first.send_audio(bytes(32000))
        finals = await first.finish()
        assert any("fence" in f.data.text.lower() for f in finals)
        await first.close()
        # its end freed a place
        again = await SttClient(serve_url, api_key="key-a").stream().open()
        opened.append(again)
        assert isinstance(again.started, p.SessionStarted)
    finally:
        for stream in opened:
            with contextlib.suppress(SttClientError):
                await stream.finish()
            await stream.close()
