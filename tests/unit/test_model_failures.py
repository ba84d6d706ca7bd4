"""A main-model call that fails or times out is made once more before ``transcription_failed``, and a
model that fails every call fills no log (the session core with the real VAD and a scripted model
that fails on cue)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.config import ServerSettings
from app.options import SessionOptions
from app.session.controller import StreamSession
from app.session.ports import Ports
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript
from tests.fakes.models import FakeClock, ScriptedTranscriber

pytestmark = pytest.mark.timeout(30)


class Flaky(ScriptedTranscriber):
    """Fails (``mode="fail"``) or hangs (``"hang"``) on its first ``bad`` calls, then answers."""

    def __init__(self, bad: int, mode: str = "fail") -> None:
        super().__init__()
        self.bad = bad
        self.mode = mode

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        if len(self.calls) < self.bad:
            self.calls.append(len(request.audio))
            if self.mode == "hang":
                await asyncio.sleep(60)
            raise ConnectionError("replica died")
        return await super().transcribe(request)


async def stream(
    shared_data: Path,
    main: ScriptedTranscriber,
    *clips: str,
    realtime: ScriptedTranscriber | None = None,
    **settings: object,
) -> list[p.ServerMessage]:
    messages: list[p.ServerMessage] = []

    async def emit(msg: p.ServerMessage) -> None:
        messages.append(msg)

    clock = FakeClock()
    session = StreamSession(
        "s1",
        settings=ServerSettings.model_validate(settings),
        ports=Ports(realtime=realtime or ScriptedTranscriber(), main=main),
        emit=emit,
        clock=clock,
        enforce_realtime=False,
    )
    partials = realtime is not None
    await session.handle(p.StartStream(options=SessionOptions(features={"interim_results": partials})))
    parts = [np.zeros(SAMPLE_RATE // 2, np.float32)]
    for clip in clips:
        parts += [load_audio(shared_data / "clips" / clip), np.zeros(int(1.5 * SAMPLE_RATE), np.float32)]
    pcm = to_pcm16(np.concatenate(parts))
    for i in range(0, len(pcm), 3200):
        clock.t += 0.1
        await session.feed(pcm[i : i + 3200])
        await asyncio.sleep(0)
    await session.handle(p.StopStream())
    return messages


def kinds(messages: list[p.ServerMessage]) -> list[str]:
    return [m.type for m in messages if m.type in ("final_result", "error")]


@pytest.mark.parametrize("speculative", [True, False])
async def test_a_failed_call_is_made_again(shared_data: Path, speculative: bool) -> None:
    main = Flaky(bad=1)
    messages = await stream(shared_data, main, "sb_spk1_snt1.wav", "sb_spk2_snt2.wav", speculative_finals=speculative)
    assert kinds(messages) == ["final_result", "final_result"]
    assert [m.seq for m in messages if isinstance(m, p.FinalResult)] == [1, 2]


async def test_a_call_that_times_out_is_made_again(shared_data: Path) -> None:
    main = Flaky(bad=1, mode="hang")
    messages = await stream(
        shared_data, main, "sb_spk1_snt1.wav", main_model={"model": "base", "timeout_s": 0.3}, speculative_finals=False
    )
    assert kinds(messages) == ["final_result"]
    assert len(main.calls) == 2


async def test_two_failures_cost_the_utterance_not_the_stream(shared_data: Path) -> None:
    main = Flaky(bad=2)
    messages = await stream(shared_data, main, "sb_spk1_snt1.wav", "sb_spk2_snt2.wav", speculative_finals=False)
    assert kinds(messages) == ["error", "final_result"]
    assert len(main.calls) == 3  # the first utterance twice, the second once
    error = next(m for m in messages if isinstance(m, p.Error))
    assert error.code == "transcription_failed" and "died" not in error.message
    final = next(m for m in messages if isinstance(m, p.FinalResult))
    assert final.seq == 1  # the failed utterance took no seq


async def test_models_that_fail_every_call_log_a_few_tracebacks(
    shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both models down for a whole stream: every partial and every final fails, and the log holds a
    few tracebacks of each kind (``app/logsample.py``), not one per call."""
    realtime, main = ScriptedTranscriber(fail=True), ScriptedTranscriber(fail=True)
    clips = ("sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "sb_spk1_snt3.wav", "sb_spk2_snt4.wav")
    with caplog.at_level(logging.WARNING):
        messages = await stream(shared_data, main, *clips, realtime=realtime)
    assert len(realtime.calls) >= 20 and len(main.calls) >= 8  # that many failures
    assert [m.type for m in messages if m.type == "error"] == ["error"] * len(clips)  # transcription_failed each
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) <= 3 * 2  # at most the first three of each kind (fewer if earlier tests logged some)
