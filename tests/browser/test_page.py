"""The demo page in a real browser: Debian's headless Chromium, driven by playwright-core (``drive_page.mjs``),
against the real Serve app, with a fake microphone that plays a real clip.

Needs ``chromium`` (``/usr/bin/chromium``, or ``$CHROMIUM``), ``node`` and ``npm ci`` in this folder: ``make
setup-browser`` installs them. Screenshots land in ``tests/browser/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import numpy as np
import pytest

from tests.wer import wer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
LEAD_S, TAIL_S = 0.5, 3.0
SAMPLE_RATE = 48000  # what a microphone gives; the page's worklet brings it to 16 kHz


@pytest.fixture(scope="module")
def browser_tools() -> None:
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    missing = []
    if not Path(chromium).exists():
        missing.append(f"Chromium ({chromium})")
    if shutil.which("node") is None:
        missing.append("node")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci in tests/browser)")
    if missing:
        pytest.fail(f"browser tests need {', '.join(missing)}: run `make setup-browser`")


@pytest.fixture(scope="module")
def jfk_wav(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, float]:
    """The clip as the fake microphone's WAV (Chromium reads 16-bit PCM WAV), with silence around it."""
    from app.audio.files import load_audio

    speech = load_audio(shared_data / "clips" / "jfk.flac", sample_rate=SAMPLE_RATE)
    audio = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE)), speech, np.zeros(int(TAIL_S * SAMPLE_RATE))])
    path = tmp_path_factory.mktemp("mic") / "jfk-48k.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path, LEAD_S + len(speech) / SAMPLE_RATE


def mint(serve_url: str, key: str = "key-a") -> str:
    response = httpx.post(f"{serve_url}/v1/auth/token", json={"ttl_s": 600}, headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def drive(**args: Any) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(HERE / "drive_page.mjs"), json.dumps(args)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=150,
    )
    return _result(done.returncode, done.stdout, done.stderr)


def drive_and_kill(kill: Callable[[], None], marker: Path, **args: Any) -> dict[str, Any]:
    """:func:`drive` with ``killAtSeconds``: ``kill()`` runs when the driver says the moment has come."""
    driver = subprocess.Popen(
        ["node", str(HERE / "drive_page.mjs"), json.dumps({**args, "killMarker": str(marker)})],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if marker.exists():
            kill()
        stdout, stderr = driver.communicate(timeout=150)
    finally:
        driver.kill()
    assert marker.exists(), f"the page never reached {args['killAtSeconds']} s of audio: {stdout[-2000:]}"
    return _result(driver.returncode, stdout, stderr)


def _result(code: int | None, stdout: str, stderr: str) -> dict[str, Any]:
    assert stdout.strip(), f"the driver printed nothing (exit {code}): {stderr[-2000:]}"
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    assert not result.get("error"), json.dumps(result, indent=1)
    return result


@pytest.mark.usefixtures("browser_tools")
def test_microphone_to_transcript_behind_a_path_prefix(serve_url: str, jfk_wav: tuple[Path, float]) -> None:
    wav, seconds = jfk_wav
    ARTIFACTS.mkdir(exist_ok=True)
    token = mint(serve_url)
    result = drive(
        base=serve_url,
        prefix="/stt",  # through a reverse proxy that strips it, as nginx would
        token=token,
        scenario="stream",
        wav=str(wav),
        clipSeconds=seconds,
        screenshot=str(ARTIFACTS / "page.png"),
        liveScreenshot=str(ARTIFACTS / "page-live.png"),
        timeoutMs=60000,
    )
    text = " ".join(result["finals"])
    assert "country" in text.lower() and wer(JFK, text) <= 0.3, result["finals"]
    assert result["partialsBeforeStop"] > 0  # partials were shown while speaking
    assert re.fullmatch(r"\d+ ms \(median \d+ ms\)", result["latencyPartial"]), result["latencyPartial"]
    assert re.fullmatch(r"\d+ ms", result["latencyFinal"]), result["latencyFinal"]
    assert result["state"] == "ended" and result["status"].startswith("ended (stopped)")
    assert not result["console"], result["console"]
    # every request went through the prefix; the token left the address bar; no API key anywhere
    assert all("/stt/" in url for url in result["requests"]), result["requests"]
    assert result["addressBar"].endswith("/stt/") and "client-a" in result["tokenInfo"]
    assert not any("key-a" in url or token in url for url in result["requests"])
    assert "connect-src 'self'" in result["csp"]
    assert (ARTIFACTS / "page.png").stat().st_size > 10_000


@pytest.mark.usefixtures("browser_tools")
def test_a_network_drop_mid_speech_is_resumed_with_nothing_lost(serve_url: str, jfk_wav: tuple[Path, float]) -> None:
    """Both sockets cut at the proxy (the browser sees 1006) 5 s into the clip: the page reconnects,
    resumes with last_seq and the audio it kept, and every final comes once, in order."""
    wav, seconds = jfk_wav
    result = drive(
        base=serve_url,
        prefix="/stt",
        token=mint(serve_url),
        scenario="stream",
        wav=str(wav),
        clipSeconds=seconds,
        dropAtSeconds=5.0,
        timeoutMs=60000,
    )
    assert result["dropped"] == 2, result  # the control and the audio socket
    assert result["resumes"] == 1 and result["statusAfterResume"].startswith("resumed"), result
    text = " ".join(result["finals"])
    assert "country" in text.lower() and wer(JFK, text) <= 0.3, result["finals"]
    assert result["seqs"] == list(range(1, len(result["seqs"]) + 1)), result["seqs"]  # each final once, in order
    assert result["finalsBeforeDrop"] < len(result["finals"]), result  # finals came after the resume too
    assert result["state"] == "ended" and result["status"].startswith("ended (stopped)"), result["status"]
    assert not [line for line in result["console"] if "WebSocket" not in line], result["console"]


@pytest.fixture(scope="module")
def in_ingress_url(serve_url: str) -> Iterator[str]:
    """An app with serve_config.yaml's layout (the sessions in its one ingress replica) beside the
    shared one, at /inhost-page (the page works under Serve's route prefix)."""
    from tests.serve_app import IN_INGRESS_ARGS, second_app

    with second_app(serve_url, "inhost-page", IN_INGRESS_ARGS) as url:
        yield url


@pytest.mark.usefixtures("browser_tools")
def test_a_crash_of_the_process_hosting_the_session_is_resumed_with_nothing_lost(
    in_ingress_url: str, jfk_wav: tuple[Path, float], tmp_path: Path
) -> None:
    """The one ingress replica, which holds the page's sockets and its session, killed (SIGKILL) 5 s
    into the clip: the page retries until Serve has replaced it, resumes the session from the store
    with the audio it kept, and every final comes once, in order."""
    import asyncio
    import os
    import signal

    from tests.faults import replica_pids

    def kill() -> None:
        (pid,) = asyncio.run(replica_pids("Ingress", "inhost-page")).values()
        os.kill(pid, signal.SIGKILL)

    wav, seconds = jfk_wav
    result = drive_and_kill(
        kill,
        tmp_path / "kill-now",
        base=in_ingress_url,
        token=mint(in_ingress_url),
        scenario="stream",
        wav=str(wav),
        clipSeconds=seconds,
        killAtSeconds=5.0,
        timeoutMs=90000,
    )
    assert result["resumes"] == 1 and result["statusAfterResume"].startswith("resumed"), result
    text = " ".join(result["finals"])
    assert "country" in text.lower() and wer(JFK, text) <= 0.3, result["finals"]
    assert result["seqs"] == list(range(1, len(result["seqs"]) + 1)), result["seqs"]  # each final once, in order
    assert result["finalsBeforeDrop"] < len(result["finals"]), result  # finals came after the resume too
    assert result["state"] == "ended" and result["status"].startswith("ended (stopped)"), result["status"]
    # the failed reconnects while no replica answered are the browser's own WebSocket errors, no more
    assert not [line for line in result["console"] if "WebSocket" not in line], result["console"]


@pytest.mark.usefixtures("browser_tools")
def test_pause_sends_no_audio_and_resume_goes_on(serve_url: str, jfk_wav: tuple[Path, float]) -> None:
    result = drive(base=serve_url, token=mint(serve_url), scenario="pause", wav=str(jfk_wav[0]), timeoutMs=30000)
    assert result["pauseLabel"] == "Resume"
    assert result["sentWhilePaused"] == 0 and result["sentAfterResume"] >= 1
    assert result["state"] == "ended" and result["status"].startswith("ended (stopped)")
    assert result["finals"]  # the utterance cut by the pause got its final
    assert not result["console"], result["console"]


@pytest.mark.usefixtures("browser_tools")
def test_without_a_token_the_page_says_how_to_get_one(serve_url: str) -> None:
    result = drive(base=serve_url, scenario="no-token", timeoutMs=20000)
    assert result["httpStatus"] == 200 and result["tokenPanelVisible"] and result["startDisabled"]
    assert "stt token --page" in result["panelText"]


@pytest.mark.usefixtures("browser_tools")
def test_a_refused_token_is_explained(serve_url: str, jfk_wav: tuple[Path, float]) -> None:
    forged = jwt.encode(
        {"sub": "client-a", "exp": int(time.time()) + 600, "iss": "rtstt", "aud": "rtstt"}, "not-the-secret-" * 3
    )
    result = drive(base=serve_url, token=forged, scenario="bad-token", wav=str(jfk_wav[0]), timeoutMs=20000)
    assert result["state"] == "error"
    assert "signature does not verify" in result["status"] and "stt token --page" in result["status"]


def test_worklet_resamples_to_16khz_pcm16_frames() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is missing: run `make setup-browser`")
    worklet = HERE.parents[1] / "app" / "web" / "worklet.js"

    def run(rate: int, tone: float) -> dict[str, Any]:
        done = subprocess.run(
            ["node", str(HERE / "worklet_check.mjs"), str(worklet), str(rate), str(tone), "1"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    for rate in (48000, 44100, 16000):
        out = run(rate, 440)
        # one second in: ten 100 ms frames of 3200 bytes, the tone's pitch and level kept
        assert out["frameBytes"] == [3200] * 10, rate
        assert out["crossingsPerSecond"] == pytest.approx(880, rel=0.01), rate
        assert out["rms"] == pytest.approx(0.5 / np.sqrt(2), rel=0.02), rate
    # 10 kHz cannot exist at 16 kHz: the low-pass removes it instead of folding it down to 6 kHz
    assert run(48000, 10000)["rms"] < 0.005
