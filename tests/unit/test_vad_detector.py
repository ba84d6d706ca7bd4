"""VoiceDetector: framing of arbitrary chunks and per-frame decisions (real WebRTC and Silero ONNX, ~1 s)."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from app.options import VadOptions
from app.vad import FRAME_SAMPLES, FrameDecision, FrameSplitter, SileroScorer, VoiceDetector, WebRtcScorer
from app.vad.silero import WARMUP_FRAMES

F = FRAME_SAMPLES
SR = 16000
Audio = npt.NDArray[np.float32]


def read_wav(path: Path) -> Audio:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SR)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


@pytest.fixture(scope="module")
def speech(shared_data: Path) -> Audio:
    return read_wav(shared_data / "clips" / "sb_spk1_snt1.wav")


def silence(seconds: float) -> Audio:
    return np.zeros(round(seconds * SR), dtype=np.float32)


def white_noise(seconds: float, dbfs: float, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * SR)) * 10 ** (dbfs / 20)).astype(np.float32)


def frames_of(audio: Audio) -> list[Audio]:
    return [audio[i : i + F] for i in range(0, len(audio) - F + 1, F)]


def speech_frames(decisions: list[FrameDecision]) -> int:
    return sum(d.is_speech for d in decisions)


# ---------------------------------------------------------------- framing


def test_splitter_frames_odd_chunks_like_one_block() -> None:
    audio = np.arange(10 * F + 77, dtype=np.float32)
    whole = [(start, frame.copy()) for start, frame in FrameSplitter().frames(audio)]
    splitter = FrameSplitter()
    pieces: list[tuple[int, Audio]] = []
    rng = np.random.default_rng(3)
    i = 0
    while i < len(audio):
        n = int(rng.integers(0, 700))
        pieces += [(start, frame.copy()) for start, frame in splitter.frames(audio[i : i + n])]
        i += n
    assert [s for s, _ in pieces] == [s for s, _ in whole] == [k * F for k in range(10)]
    for (_, a), (_, b) in zip(pieces, whole, strict=True):
        np.testing.assert_array_equal(a, b)
    assert splitter.framed == 10 * F
    assert splitter.offset == len(audio)
    assert splitter.pending == 77


def test_splitter_skip_drops_the_carry_and_moves_the_offset() -> None:
    splitter = FrameSplitter(start_offset=1000)
    assert list(splitter.frames(np.zeros(F + 10, dtype=np.float32))) != []
    splitter.skip(500)
    assert splitter.offset == splitter.framed == 1000 + F + 10 + 500
    [(start, _)] = list(splitter.frames(np.ones(F, dtype=np.float32)))
    assert start == 1000 + F + 10 + 500


# ---------------------------------------------------------------- decisions


def test_odd_chunk_sizes_give_the_same_decisions_as_one_push(speech: Audio) -> None:
    audio = np.concatenate([silence(0.7), speech, silence(0.5), speech, white_noise(0.5, -40)])
    whole = VoiceDetector(VadOptions()).push(audio)
    detector = VoiceDetector(VadOptions())
    chunked: list[FrameDecision] = []
    sizes = [1, 0, 511, 512, 513, 7, 160, 1600, 3000, 4096, 37]
    i = k = 0
    while i < len(audio):
        n = sizes[k % len(sizes)]
        chunked += detector.push(audio[i : i + n])
        i += n
        k += 1
    assert len(chunked) == len(whole)
    assert chunked == whole
    assert [d.end for d in whole] == [(k + 1) * F for k in range(len(whole))]
    assert speech_frames(whole) > 80


def test_silence_is_not_speech() -> None:
    decisions = VoiceDetector(VadOptions()).push(silence(3.0))
    assert len(decisions) == 3 * SR // F
    assert speech_frames(decisions) == 0


@pytest.mark.parametrize("dbfs", [-40.0, -30.0, -20.0])
def test_white_noise_is_not_speech(dbfs: float) -> None:
    decisions = VoiceDetector(VadOptions()).push(white_noise(3.0, dbfs))
    assert speech_frames(decisions) == 0


def test_a_real_clip_is_speech(speech: Audio) -> None:
    decisions = VoiceDetector(VadOptions()).push(np.concatenate([silence(0.5), speech, silence(0.5)]))
    in_clip = [d for d in decisions if d.start >= SR // 2 and d.end <= SR // 2 + len(speech)]
    assert speech_frames(in_clip) > 0.7 * len(in_clip)
    assert all(d.probability is not None and d.probability >= 0.35 for d in in_clip if d.is_speech)
    assert all(d.webrtc is not None for d in decisions)


def test_silero_runs_only_where_webrtc_hears_speech_when_idle() -> None:
    decisions = VoiceDetector(VadOptions()).push(silence(2.0))
    assert all(d.webrtc is False and d.probability is None for d in decisions)


def test_silero_keeps_running_through_webrtc_dropouts_inside_speech(speech: Audio) -> None:
    decisions = VoiceDetector(VadOptions()).push(np.concatenate([silence(0.5), speech, silence(2.0)]))
    first = next(i for i, d in enumerate(decisions) if d.is_speech)
    last = max(i for i, d in enumerate(decisions) if d.is_speech)
    assert all(d.probability is not None for d in decisions[first : last + 1])
    assert decisions[-1].probability is None  # ~1 s after speech the gate is back in charge


def test_each_scorer_can_run_alone(speech: Audio) -> None:
    audio = np.concatenate([silence(0.5), speech])
    silero_only = VoiceDetector(VadOptions(webrtc={"enabled": False})).push(audio)
    assert all(d.webrtc is None and d.probability is not None for d in silero_only)
    assert speech_frames(silero_only) > 50
    webrtc_only = VoiceDetector(VadOptions(silero={"enabled": False})).push(audio)
    assert all(d.webrtc is not None and d.probability is None for d in webrtc_only)
    assert speech_frames(webrtc_only) > 50


def test_both_disabled_falls_back_to_an_energy_gate() -> None:
    options = VadOptions(silero={"enabled": False}, webrtc={"enabled": False})
    detector = VoiceDetector(options)
    assert speech_frames(detector.push(silence(1.0))) == 0
    assert speech_frames(detector.push(white_noise(1.0, -60))) == 0
    loud = detector.push(white_noise(1.0, -20))
    assert speech_frames(loud) == len(loud)
    assert all(d.webrtc is None and d.probability is None for d in loud)


def test_offsets_origin_and_skip() -> None:
    detector = VoiceDetector(VadOptions(), start_offset=16_000)
    decisions = detector.push(silence(0.1))  # 1600 samples: 3 frames + 64 carried
    assert [d.end for d in decisions] == [16_000 + F, 16_000 + 2 * F, 16_000 + 3 * F]
    assert detector.decided == 16_000 + 3 * F
    assert detector.offset == 17_600
    detector.skip(1000)  # audio lost: the carry goes, the clock moves on
    assert detector.offset == detector.decided == 18_600
    assert detector.push(silence(0.032))[0].start == 18_600


def test_reconfigure_keeps_framing_and_offsets(speech: Audio) -> None:
    detector = VoiceDetector(VadOptions())
    detector.push(speech[:1000])
    detector.reconfigure(VadOptions(silero={"sensitivity": 0.0}))  # threshold 1: nothing is speech
    decisions = detector.push(speech[1000:])
    assert decisions[0].start == F  # the 1000 - 512 carried samples were kept
    assert speech_frames(decisions) == 0
    assert detector.options.silero.sensitivity == 0.0


def test_bad_input_is_refused() -> None:
    detector = VoiceDetector(VadOptions())
    with pytest.raises(ValueError, match="1-D"):
        detector.push(np.zeros((2, 512), dtype=np.float32))
    with pytest.raises(ValueError, match="dtype int16"):
        detector.push(np.zeros(512, dtype=np.int16))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="512-sample"):
        SileroScorer(VadOptions().silero).probability(np.zeros(480, dtype=np.float32))
    with pytest.raises(ValueError, match="WebRTC needs"):
        WebRtcScorer(3).is_speech(np.zeros(100, dtype=np.float32))


def test_float64_input_is_accepted(speech: Audio) -> None:
    assert VoiceDetector(VadOptions()).push(speech.astype(np.float64)) == VoiceDetector(VadOptions()).push(speech)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Silero scorer


def test_silero_state_is_per_stream(speech: Audio) -> None:
    frames = frames_of(speech)
    a, b = SileroScorer(VadOptions().silero), SileroScorer(VadOptions().silero)
    alone = [a.probability(f) for f in frames]
    interleaved = []
    for f in frames:
        interleaved.append(b.probability(f))
        a.probability(np.zeros(F, dtype=np.float32))  # another stream on the shared model
    assert interleaved == alone
    b.reset()
    assert b.probability(frames[0]) == alone[0]


def test_silero_scores_a_short_skip_as_if_nothing_was_skipped(speech: Audio) -> None:
    frames = frames_of(speech)
    ungated = SileroScorer(VadOptions().silero)
    gated = SileroScorer(VadOptions().silero)
    expected = [ungated.probability(f) for f in frames]
    got = []
    for k, f in enumerate(frames):
        if k % 10 < WARMUP_FRAMES:  # skip runs of up to WARMUP_FRAMES frames
            gated.skip(f)
        else:
            got.append((k, gated.probability(f)))
    assert got
    for k, p in got:
        assert p == pytest.approx(expected[k], abs=1e-6)


def test_silero_restarts_on_the_last_frames_after_a_long_skip(speech: Audio) -> None:
    frames = frames_of(speech)
    warmed = SileroScorer(VadOptions().silero)
    for f in frames[:40]:
        warmed.probability(f)  # a state full of speech
    for f in frames[40:60]:
        warmed.skip(f)
    fresh = SileroScorer(VadOptions().silero)
    for f in frames[60 - WARMUP_FRAMES : 60]:
        fresh.probability(f)
    assert warmed.probability(frames[60]) == pytest.approx(fresh.probability(frames[60]), abs=1e-6)


def test_silero_thresholds_follow_sensitivity() -> None:
    scorer = SileroScorer(VadOptions(silero={"sensitivity": 0.7}).silero)
    assert scorer.threshold == pytest.approx(0.3)
    assert scorer.is_speech(0.31, previous_was_speech=False)
    assert not scorer.is_speech(0.2, previous_was_speech=False)
    assert scorer.is_speech(0.2, previous_was_speech=True)  # hysteresis inside speech


def test_importing_and_running_the_detector_needs_no_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from app.options import VadOptions\n"
        "from app.vad import VoiceDetector\n"
        "VoiceDetector(VadOptions()).push(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))\n"
        "VoiceDetector(VadOptions(webrtc={'enabled': False})).push(np.zeros(16000, dtype=np.float32))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'silero_vad'})\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
