"""Speaker turns through the real Serve stack: a telephone call assembled from real speech (8 kHz, two
voices, turns of 1–4 s, gaps of 0.1–0.5 s, an overlap now and then; ``scripts/diar/devset.py``) streamed
as a phone client would; the Diarizer deployment embeds every session's sliding windows in its batches,
and each change of speaker ends the utterance. Also ``scripts/score_diarization.py``, run as an
operator runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import protocol as p
from app.client import SttClient
from scripts.diar.devset import recording

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CALL = "call_sb_pair"  # speechbrain's spk1 and spk2 through the phone: ~25 s, 11 turns


@pytest.fixture(scope="module")
def call_files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    return recording(CALL, shared_data).write(tmp_path_factory.mktemp("call"))


async def wake_the_diarizer(url: str, clip: Path) -> None:
    """A short diarized session first: the Diarizer scales to zero, and a session's first turns while
    it starts (seconds) are what the lazy-enrichment test covers, not turns."""
    options = {"features": {"speaker_diarization": True, "interim_results": False}}
    async with SttClient(url, api_key="key-a").stream(options=options) as s:
        await s.send_file(clip, realtime=False)
        await s.stop()
        async for _ in s:
            pass


async def test_a_two_person_call_comes_back_as_turns(
    serve_url: str, call_files: tuple[Path, Path], shared_data: Path
) -> None:
    wav, _ = call_files
    await wake_the_diarizer(serve_url, shared_data / "clips" / "sb_spk1_snt1.wav")
    options = {"audio": {"sample_rate": 8000}, "features": {"speaker_diarization": True, "interim_results": False}}
    finals: list[p.FinalResult] = []
    reasons: list[str] = []
    async with SttClient(serve_url, api_key="key-a").stream(options=options) as s:

        async def send() -> None:
            await s.send_file(wav, realtime=True, speed=2.0, burst_s=5.0)  # the limit is 4x
            await s.stop()  # at once: no message may come after the last frame

        sender = asyncio.create_task(send())
        async for msg in s:
            if isinstance(msg, p.FinalResult):
                finals.append(msg)
            elif isinstance(msg, p.SpeakerRevision):
                finals = [msg.apply(f) for f in finals]
            elif isinstance(msg, p.UtteranceEnd):
                reasons.append(msg.reason)
        await sender
    assert reasons.count("speaker_change") >= 3, reasons  # the turns are 0.1–0.5 s apart: no silence ends them
    assert len(finals) >= 6
    for f in finals:  # every word carries a speaker the final reports
        assert f.data.speakers is not None and {w.speaker for w in f.data.words} <= {
            d.id for d in f.data.speakers.details
        }
    # each final is one speaker's turn, but for a turn shorter than the tracker needs (its 1.6 s window and
    # 2 s after the change): that one stays inside the final, split there by the final's own windows
    one = [f for f in finals if f.data.speakers is not None and f.data.speakers.count == 1]
    assert len(one) >= 0.75 * len(finals), [(f.data.text, f.data.speakers) for f in finals]
    assert {d.id for f in finals if f.data.speakers for d in f.data.speakers.details} == {"speaker_1", "speaker_2"}


def test_the_scoring_script_scores_a_call_against_the_running_app(
    serve_url: str, call_files: tuple[Path, Path], tmp_path: Path
) -> None:
    wav, rttm = call_files
    out = tmp_path / "score.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "score_diarization.py"),
            str(wav),
            str(rttm),
            "--url",
            serve_url,
            "--api-key",
            "key-a",
            "--speed",
            "2",
            "--no-partials",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "DER" in done.stdout and "speakers: 2 found, 2 in the reference" in done.stdout, done.stdout
    report = json.loads(out.read_text())
    assert report["speakers_found"] == report["speakers_reference"] == 2
    assert report["der_collar025"] <= 0.25, report
    assert report["der_collar0"] >= report["der_collar025"]  # the collar only forgives
    assert report["end_reasons"].get("speaker_change", 0) >= 3 and report["finals"] >= 6
    assert report["one_speaker_finals"] >= 0.75 * report["finals"]
    assert report["latency_median_s"] is not None
