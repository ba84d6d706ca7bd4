"""The session core with real audio and the real VAD, but a scripted model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.config import ServerSettings
from app.errors import AudioTooFast, InvalidState, MisalignedAudio
from app.options import SessionOptions
from app.session.controller import SessionState, StreamSession
from app.session.ports import FinalEnricher, Ports
from app.transcript import SAMPLE_RATE, Audio, TranscribeRequest, Transcript
from tests.fakes.models import FakeClock, ScriptedTranscriber

CHUNK = 3200  # 100 ms of PCM16


def speech(shared_data: Path, *names: str, gap_s: float = 1.5) -> np.ndarray:
    parts: list[np.ndarray] = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)]
    for name in names:
        parts.append(load_audio(shared_data / "clips" / name))
        parts.append(np.zeros(int(gap_s * SAMPLE_RATE), np.float32))
    return np.concatenate(parts)


class Run:
    def __init__(
        self,
        *,
        realtime: ScriptedTranscriber | None = None,
        main: ScriptedTranscriber | None = None,
        enforce_realtime: bool = False,
        enrichers: Sequence[FinalEnricher] = (),
        clock: FakeClock | None = None,
        settings: ServerSettings | None = None,
    ) -> None:
        self.messages: list[p.ServerMessage] = []
        self.clock = clock or FakeClock()
        self.realtime = realtime or ScriptedTranscriber()
        self.main = main or ScriptedTranscriber()

        async def emit(msg: p.ServerMessage) -> None:
            self.messages.append(msg)

        self.session = StreamSession(
            "s1",
            settings=settings or ServerSettings(),
            ports=Ports(realtime=self.realtime, main=self.main, enrichers=enrichers),
            emit=emit,
            clock=self.clock,
            enforce_realtime=enforce_realtime,
        )

    async def start(self, **options: object) -> None:
        await self.session.handle(p.StartStream(options=SessionOptions.model_validate(options)))

    async def send(self, audio: np.ndarray) -> None:
        pcm = to_pcm16(audio)
        for i in range(0, len(pcm), CHUNK):
            self.clock.t += 0.1
            await self.session.feed(pcm[i : i + CHUNK])
            await asyncio.sleep(0)

    def of(self, kind: type[p.ServerMessage]) -> list[p.ServerMessage]:  # type: ignore[valid-type]
        return [m for m in self.messages if isinstance(m, kind)]


async def test_each_utterance_gets_one_final_in_order(shared_data: Path) -> None:
    run = Run()
    await run.start()
    await run.send(speech(shared_data, "sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "LDC93S1.wav"))
    await run.session.handle(p.StopStream())
    finals = run.of(p.FinalResult)
    assert [f.seq for f in finals] == [1, 2, 3]
    assert [f.utterance_id for f in finals] == [1, 2, 3]
    types = [m.type for m in run.messages]
    assert types[0] == "session_started" and types[-1] == "session_ended"
    # per utterance: speech_started, partials, utterance_end, then its final
    for uid in (1, 2, 3):
        own = [m.type for m in run.messages if getattr(m, "utterance_id", None) == uid]
        assert own[0] == "speech_started"
        assert own.index("utterance_end") < own.index("final_result")
        assert "partial_result" in own
        assert own.index("partial_result") < own.index("final_result")
    ended = run.messages[-1]
    assert isinstance(ended, p.SessionEnded) and ended.finals == 3


async def test_final_words_stay_inside_their_utterance(shared_data: Path) -> None:
    run = Run()
    await run.start()
    await run.send(speech(shared_data, "sb_spk1_snt2.wav", "sb_spk1_snt3.wav"))
    await run.session.handle(p.StopStream())
    for msg in run.of(p.FinalResult) + run.of(p.PartialResult):
        start = msg.data.audio.start if isinstance(msg, p.FinalResult) else msg.data.audio_start
        end = msg.data.audio.end if isinstance(msg, p.FinalResult) else msg.data.audio_current
        for w in msg.data.words:
            assert start - 0.01 <= w.start <= w.end <= end + 0.01


async def test_formatting_and_timestamps(shared_data: Path) -> None:
    run = Run()
    await run.start()
    await run.send(speech(shared_data, "sb_spk2_snt1.wav"))
    await run.session.handle(p.StopStream())
    (final,) = run.of(p.FinalResult)
    assert final.data.text[0].isupper() and final.data.text.endswith(".")
    assert 0.15 < final.data.audio.start < 0.7  # 0.5 s leading silence, less pre-roll
    assert final.data.audio.duration == pytest.approx(final.data.audio.end - final.data.audio.start, abs=0.002)
    started = run.of(p.SessionStarted)[0]
    assert isinstance(started, p.SessionStarted)


async def test_silence_gives_no_final() -> None:
    run = Run()
    await run.start()
    await run.send(np.zeros(5 * SAMPLE_RATE, np.float32))
    await run.session.handle(p.StopStream())
    assert run.of(p.FinalResult) == []
    assert run.main.calls == [] and run.realtime.calls == []


async def test_stop_flushes_utterance_in_progress(shared_data: Path) -> None:
    run = Run()
    await run.start()
    clip = load_audio(shared_data / "clips" / "sb_spk1_snt5.wav")
    await run.send(np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clip[: len(clip) * 2 // 3]]))
    await run.session.handle(p.StopStream())
    finals = run.of(p.FinalResult)
    assert len(finals) == 1
    ends = run.of(p.UtteranceEnd)
    assert isinstance(ends[0], p.UtteranceEnd) and ends[0].reason == "stop"
    assert run.messages[-1].type == "session_ended"


async def test_finalize_forces_end_of_utterance(shared_data: Path) -> None:
    run = Run()
    await run.start()
    clip = load_audio(shared_data / "clips" / "sb_spk1_snt2.wav")
    await run.send(np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clip[: SAMPLE_RATE * 2]]))
    await run.session.handle(p.Finalize())
    await run.send(clip[SAMPLE_RATE * 2 :])
    await run.send(np.zeros(SAMPLE_RATE, np.float32))
    await run.session.handle(p.StopStream())
    reasons = [m.reason for m in run.of(p.UtteranceEnd) if isinstance(m, p.UtteranceEnd)]
    assert reasons[0] == "finalize"
    assert len(run.of(p.FinalResult)) >= 1


async def test_pause_discards_audio_and_keeps_stream_time(shared_data: Path) -> None:
    run = Run()
    await run.start()
    await run.session.handle(p.PauseStream())
    await run.send(speech(shared_data, "sb_spk1_snt1.wav"))  # discarded
    await run.session.handle(p.ResumeStream())
    await run.send(speech(shared_data, "sb_spk2_snt3.wav"))
    await run.session.handle(p.StopStream())
    finals = run.of(p.FinalResult)
    assert len(finals) == 1
    # stream time counts the paused audio: the final starts after it
    paused = len(speech(shared_data, "sb_spk1_snt1.wav")) / SAMPLE_RATE
    assert isinstance(finals[0], p.FinalResult)
    assert finals[0].data.audio.start > paused


async def test_pause_during_speech_finalizes_it(shared_data: Path) -> None:
    run = Run()
    await run.start()
    clip = load_audio(shared_data / "clips" / "LDC93S1.wav")
    await run.send(np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clip[: SAMPLE_RATE * 2]]))
    await run.session.handle(p.PauseStream())
    assert run.session.state is SessionState.PAUSED
    await run.session.handle(p.StopStream())
    ends = [m for m in run.of(p.UtteranceEnd) if isinstance(m, p.UtteranceEnd)]
    assert [e.reason for e in ends] == ["pause"]
    assert len(run.of(p.FinalResult)) == 1


async def test_commands_in_wrong_state_are_refused() -> None:
    run = Run()
    with pytest.raises(InvalidState):
        await run.session.handle(p.PauseStream())
    await run.start()
    with pytest.raises(InvalidState):
        await run.session.handle(p.ResumeStream())
    with pytest.raises(InvalidState, match=r"already|not allowed"):
        await run.session.handle(p.StartStream())
    await run.session.handle(p.StopStream())
    with pytest.raises(InvalidState):
        await run.session.feed(b"\x00\x00")


async def test_bad_audio_is_refused_and_session_goes_on(shared_data: Path) -> None:
    run = Run()
    await run.start()
    with pytest.raises(MisalignedAudio):
        await run.session.feed(b"\x00\x01\x02")
    await run.send(speech(shared_data, "sb_spk2_snt4.wav"))
    await run.session.handle(p.StopStream())
    assert len(run.of(p.FinalResult)) == 1


async def test_audio_faster_than_allowed_is_refused() -> None:
    run = Run(enforce_realtime=True)
    await run.start()
    second = to_pcm16(np.zeros(SAMPLE_RATE // 4, np.float32))
    with pytest.raises(AudioTooFast):
        for _ in range(200):  # 50 s of audio at one instant
            await run.session.feed(second)
    assert run.session.state is SessionState.STREAMING


async def test_model_failure_reports_error_and_stream_continues(shared_data: Path) -> None:
    run = Run(main=ScriptedTranscriber(fail=True))
    await run.start()
    await run.send(speech(shared_data, "sb_spk1_snt4.wav"))
    await run.session.handle(p.StopStream())
    errors = [m for m in run.of(p.Error) if isinstance(m, p.Error)]
    assert errors and errors[0].code == "transcription_failed"
    assert "exploded" not in errors[0].message
    assert run.messages[-1].type == "session_ended"


class FailOnce:
    """A final stage that fails on the first final it sees (a bug, a store that raised)."""

    def __init__(self) -> None:
        self.failed = False

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult:
        if not self.failed:
            self.failed = True
            raise RuntimeError("stage broke")
        return final


async def test_a_final_that_is_never_delivered_takes_no_seq(shared_data: Path) -> None:
    run = Run(enrichers=[FailOnce()])
    await run.start()
    await run.send(speech(shared_data, "sb_spk1_snt4.wav", "sb_spk2_snt1.wav"))
    await run.session.handle(p.StopStream())
    finals = run.of(p.FinalResult)
    assert [f.seq for f in finals] == [1] and finals[0].utterance_id == 2
    assert [e.code for e in run.of(p.Error)] == ["transcription_failed"]
    ended = run.messages[-1]
    assert isinstance(ended, p.SessionEnded) and ended.finals == 1


class SlowMain(ScriptedTranscriber):
    """A main model whose every call takes ``seconds`` of the session's (fake) time."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds = seconds

    async def transcribe(self, request: TranscribeRequest) -> Transcript:
        self.clock.t += self.seconds
        return await super().transcribe(request)


async def test_finals_that_fall_behind_get_one_warning(shared_data: Path) -> None:
    clock = FakeClock()
    # no speculation: each final's call starts at its utterance's end
    run = Run(main=SlowMain(clock, 4.0), clock=clock, settings=ServerSettings(speculative_finals=False))
    await run.start()
    await run.send(speech(shared_data, "sb_spk1_snt4.wav", "sb_spk2_snt1.wav", "sb_spk2_snt2.wav"))
    await run.session.handle(p.StopStream())
    warnings = [m for m in run.of(p.Warning_) if isinstance(m, p.Warning_)]
    assert [w.code for w in warnings] == ["falling_behind"]  # once, though every final was late
    assert "behind" in warnings[0].message
    assert len(run.of(p.FinalResult)) == 3  # late, not lost


async def test_no_interim_results_means_no_partials(shared_data: Path) -> None:
    run = Run()
    await run.start(features={"interim_results": False})
    await run.send(speech(shared_data, "sb_spk1_snt1.wav"))
    await run.session.handle(p.StopStream())
    assert run.of(p.PartialResult) == []
    assert run.realtime.calls == []
    assert len(run.of(p.FinalResult)) == 1


async def test_configure_changes_options_but_not_audio_format(shared_data: Path) -> None:
    run = Run()
    await run.start()
    await run.session.handle(p.Configure(options={"formatting": {"ensure_sentence_ends_with_period": False}}))
    with pytest.raises(InvalidState, match="audio format"):
        await run.session.handle(p.Configure(options={"audio": {"sample_rate": 8000}}))
    await run.send(speech(shared_data, "sb_spk1_snt3.wav"))
    await run.session.handle(p.StopStream())
    (final,) = run.of(p.FinalResult)
    assert isinstance(final, p.FinalResult) and not final.data.text.endswith(".")


async def test_final_reuses_the_speculative_call_made_in_the_pause(shared_data: Path) -> None:
    run = Run()
    await run.start()
    await run.send(speech(shared_data, "sb_spk1_snt1.wav", gap_s=1.5))
    await run.session.handle(p.StopStream())
    (final,) = run.of(p.FinalResult)
    # one main-model call, made on exactly the final's audio before the pause ended the utterance
    assert isinstance(final, p.FinalResult)
    assert len(run.main.calls) == 1
    assert abs(run.main.calls[0] - final.data.audio.duration * SAMPLE_RATE) < 32


async def test_speech_after_a_short_pause_discards_the_speculation(shared_data: Path) -> None:
    run = Run()
    await run.start()
    a = load_audio(shared_data / "clips" / "sb_spk1_snt1.wav")  # its speech ends cleanly (no weak tail)
    b = load_audio(shared_data / "clips" / "sb_spk2_snt2.wav")
    pause = np.zeros(int(0.45 * SAMPLE_RATE), np.float32)  # longer than the speculation point, shorter than the end
    await run.send(
        np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), a, pause, b, np.zeros(SAMPLE_RATE, np.float32)])
    )
    await run.session.handle(p.StopStream())
    (final,) = run.of(p.FinalResult)
    assert isinstance(final, p.FinalResult)
    assert abs(run.main.calls[-1] - final.data.audio.duration * SAMPLE_RATE) < 32
    assert final.data.audio.duration > (len(a) + len(b)) / SAMPLE_RATE
