"""Stored transcripts through the real Ray stack: stream a clip, fetch its SRT from the REST API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.client import SttClient
from tests.subtitles import assert_monotonic, parse_srt
from tests.wer import wer

pytestmark = pytest.mark.e2e


async def test_a_streamed_clip_comes_back_as_srt(serve_url: str, shared_data: Path) -> None:
    async with SttClient(serve_url, api_key="key-a").stream() as s:
        await s.send_file(shared_data / "clips" / "new-home-in-the-stars-16k.wav", realtime=False)
        await s.send_audio(bytes(16000))
        finals = await s.finish()
        session_id = s.session_id
    assert finals

    async with httpx.AsyncClient(base_url=serve_url, headers={"Authorization": "Bearer key-a"}) as http:
        srt = await http.get(f"/v1/sessions/{session_id}/transcript", params={"format": "srt"})
        detail = await http.get(f"/v1/sessions/{session_id}")
        other = await http.get(f"/v1/sessions/{session_id}", headers={"Authorization": "Bearer key-b"})
    assert srt.status_code == 200, srt.text
    cues = parse_srt(srt.text)
    assert_monotonic(cues)
    assert [c.text for c in cues] == [f.data.text for f in finals]
    assert wer("we must find a new home in the stars", " ".join(c.text for c in cues)) <= 0.2
    assert detail.json()["status"] == "ended" and detail.json()["finals"] == len(finals)
    assert other.status_code == 404
