"""``stt`` as people run it: the installed console script against the real app, on real clips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app import protocol as p
from tests.wer import wer

pytestmark = pytest.mark.e2e

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
DOG = "the child almost hurt the small dog"


def stt(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("stt", path=str(Path(sys.executable).parent))
    assert exe, "the stt console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STT_")} | {"NO_COLOR": "1"}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=env)


def finals_text(stdout: str) -> str:
    return " ".join(line.split("] ", 1)[1] for line in stdout.splitlines() if line.startswith("[final"))


def test_stream_prints_partials_then_finals(serve_url: str, shared_data: Path) -> None:
    # paced at twice real time: a live stream's partials, in half the time
    done = stt(
        "stream", str(shared_data / "clips" / "jfk.flac"), "--speed", "2", "--api-key", "key-a", "--url", serve_url
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    partials = [i for i, line in enumerate(lines) if line.startswith("[partial")]
    finals = [i for i, line in enumerate(lines) if line.startswith("[final")]
    assert partials and finals and partials[0] < finals[0], done.stdout
    assert wer(JFK, finals_text(done.stdout)) <= 0.25, done.stdout
    assert "session ended (stopped)" in done.stderr


def test_fast_json_lines_parse(serve_url: str, shared_data: Path) -> None:
    clip = str(shared_data / "clips" / "jfk.flac")
    done = stt(
        "stream",
        clip,
        "--fast",
        "--json",
        "--sentiment",
        "--wake-word",
        "country",
        "--api-key",
        "key-a",
        "--url",
        serve_url,
    )
    assert done.returncode == 0, done.stderr
    messages = [p.parse_server_message(line) for line in done.stdout.splitlines()]
    assert isinstance(messages[0], p.SessionStarted) and isinstance(messages[-1], p.SessionEnded)
    assert messages[0].options.features.wake_words.phrases == ["country"]
    assert not [m for m in messages if isinstance(m, p.Error)]
    finals = [m for m in messages if isinstance(m, p.FinalResult)]
    assert wer(JFK, " ".join(f.data.text for f in finals)) <= 0.25
    # sent faster than real time, yet within the server's pace limit: all 11 s arrived
    assert messages[-1].audio_duration == pytest.approx(11.0, abs=0.1)


def test_wrong_key_exits_4_with_a_clear_message(serve_url: str, shared_data: Path) -> None:
    done = stt("stream", str(shared_data / "clips" / "jfk.flac"), "--api-key", "wrong", "--url", serve_url)
    assert done.returncode == 4
    assert "authentication failed: invalid API key" in done.stderr and "--api-key" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_server_exits_3(shared_data: Path) -> None:
    done = stt("stream", str(shared_data / "clips" / "jfk.flac"), "--api-key", "key-a", "--url", "http://127.0.0.1:9")
    assert done.returncode == 3
    assert "connection failed" in done.stderr and "Traceback" not in done.stderr


def test_token_then_stream_with_it(serve_url: str, shared_data: Path) -> None:
    minted = stt("token", "--ttl", "120", "--api-key", "key-a", "--url", serve_url)
    assert minted.returncode == 0, minted.stderr
    jwt = minted.stdout.strip()
    done = stt("stream", str(shared_data / "clips" / "sb_spk1_snt1.wav"), "--fast", "--token", jwt, "--url", serve_url)
    assert done.returncode == 0, done.stderr
    assert wer(DOG, finals_text(done.stdout)) <= 0.2
    page = stt("token", "--page", "--api-key", "key-a", "--url", serve_url + "/")
    assert page.stdout.startswith(serve_url + "/#token=ey")


def test_sessions_and_transcripts(serve_url: str, shared_data: Path) -> None:
    sid = uuid.uuid4().hex
    clip = str(shared_data / "clips" / "sb_spk1_snt1.wav")
    done = stt("stream", clip, "--fast", "--session-id", sid, "--api-key", "key-a", "--url", serve_url)
    assert done.returncode == 0, done.stderr
    listed = stt("sessions", "--json", "--limit", "50", "--api-key", "key-a", "--url", serve_url)
    if "does not serve /v1/sessions" in listed.stderr:
        pytest.skip("this app has no transcript storage routes")
    assert listed.returncode == 0, listed.stderr
    assert sid in [s["session_id"] for s in json.loads(listed.stdout)["sessions"]]
    table = stt("sessions", "--api-key", "key-a", "--url", serve_url)
    assert table.stdout.startswith("session_id") and sid in table.stdout
    srt = stt("transcript", sid, "--format", "srt", "--api-key", "key-a", "--url", serve_url)
    assert srt.returncode == 0 and "-->" in srt.stdout and wer(DOG, srt.stdout.split("\n", 2)[2]) <= 0.2
    vtt = stt("transcript", sid, "--format", "vtt", "--api-key", "key-a", "--url", serve_url)
    assert vtt.stdout.startswith("WEBVTT")
    other = stt("transcript", sid, "--api-key", "key-b", "--url", serve_url)
    assert other.returncode == 5 and "session_not_found" in other.stderr  # another client's session is not there
