"""VAD + segmenter on real speech and on generated noise, with the real Silero model.

Reference speech bounds come from the clips' energy (first and last 10 ms window
within 40 dB of the clip's loudest), independent of both VADs.
"""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import soxr

from app.options import VadOptions
from app.vad import FRAME_SAMPLES, Event, Segmenter, SileroScorer, SpeechStart, UtteranceEnd, VoiceDetector
from app.vad.segmenter import TAIL_PAD_S

pytestmark = pytest.mark.model

SR = 16000
Audio = npt.NDArray[np.float32]

CLIPS = [
    "sb_spk1_snt1.wav",
    "sb_spk1_snt2.wav",
    "sb_spk1_snt3.wav",
    "sb_spk1_snt4.wav",
    "sb_spk1_snt5.wav",
    "sb_spk2_snt1.wav",
    "sb_spk2_snt2.wav",
    "sb_spk2_snt3.wav",
    "sb_spk2_snt4.wav",
    "sb_spk2_snt5.wav",
    "LDC93S1.wav",
]
GAP_S = 1.5


def load_clip(path: Path) -> Audio:
    """Any clip as float32 mono 16 kHz: PyAV decodes and mixes down, soxr resamples."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        mixer = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [f.to_ndarray().reshape(-1) for frame in container.decode(stream) for f in mixer.resample(frame)]
        parts += [f.to_ndarray().reshape(-1) for f in mixer.resample(None)]
    audio = np.concatenate(parts).astype(np.float32)
    if rate != SR:
        audio = soxr.resample(audio, rate, SR).astype(np.float32)
    return audio


def speech_bounds(audio: Audio, below_peak_db: float = 40.0) -> tuple[int, int]:
    hop = SR // 100
    windows = audio[: len(audio) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(windows**2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() - below_peak_db)
    return int(loud[0]) * hop, (int(loud[-1]) + 1) * hop


def run_stream(audio: Audio, options: VadOptions, chunk: int = 1600) -> list[Event]:
    """Feed ``audio`` in 100 ms chunks, as a client would, and stop at the end."""
    detector, segmenter = VoiceDetector(options), Segmenter(options)
    events: list[Event] = []
    for i in range(0, len(audio), chunk):
        for d in detector.push(audio[i : i + chunk]):
            events += segmenter.push(d.is_speech, d.end)
    return events + segmenter.force_end(detector.offset, "stop")


@pytest.fixture(scope="module")
def clips(shared_data: Path) -> list[Audio]:
    return [load_clip(shared_data / "clips" / name) for name in CLIPS]


@pytest.fixture(scope="module")
def speech_stream(clips: list[Audio]) -> tuple[Audio, list[tuple[int, int]]]:
    """The clips one after another with 1.5 s of silence around each, and each clip's speech bounds."""
    gap = np.zeros(round(GAP_S * SR), dtype=np.float32)
    parts, truth, offset = [gap], [], len(gap)
    for clip in clips:
        start, end = speech_bounds(clip)
        truth.append((offset + start, offset + end))
        parts += [clip, gap]
        offset += len(clip) + len(gap)
    return np.concatenate(parts), truth


def utterances(events: list[Event]) -> list[UtteranceEnd]:
    ends = [e for e in events if isinstance(e, UtteranceEnd)]
    assert [e.utterance_id for e in events if isinstance(e, SpeechStart)] == [e.utterance_id for e in ends]
    return ends


def test_one_utterance_per_clip_with_accurate_bounds(speech_stream: tuple[Audio, list[tuple[int, int]]]) -> None:
    audio, truth = speech_stream
    options = VadOptions()
    found = utterances(run_stream(audio, options))
    assert len(found) == len(CLIPS)
    for name, utterance, (speech_start, speech_end) in zip(CLIPS, found, truth, strict=True):
        assert utterance.reason == "silence", name
        # the utterance covers the speech (pre-roll before it, a tail after it) …
        assert utterance.start <= speech_start, name
        assert utterance.end >= speech_end, name
        # … and its bounds, less pre-roll and tail, are within 0.3 s of the speech's
        assert abs(utterance.start + options.pre_roll * SR - speech_start) <= 0.3 * SR, name
        assert abs(utterance.end - TAIL_PAD_S * SR - speech_end) <= 0.3 * SR, name


@pytest.mark.parametrize("noise_dbfs", [-50.0, -40.0])
def test_one_utterance_per_clip_in_white_noise(
    speech_stream: tuple[Audio, list[tuple[int, int]]], noise_dbfs: float
) -> None:
    audio, truth = speech_stream
    noise = np.random.default_rng(11).standard_normal(len(audio)) * 10 ** (noise_dbfs / 20)
    found = utterances(run_stream((audio + noise).astype(np.float32), VadOptions()))
    assert len(found) == len(CLIPS)
    for name, utterance, (speech_start, speech_end) in zip(CLIPS, found, truth, strict=True):
        assert utterance.start <= speech_start + 0.1 * SR, name
        assert utterance.end >= speech_end - 0.1 * SR, name


def _noises() -> dict[str, Audio]:
    rng = np.random.default_rng(2024)
    n = 10 * SR
    t = np.arange(n) / SR

    def at(x: npt.NDArray[np.float64], dbfs: float) -> Audio:
        return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)

    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(1601) / 1601, mode="same")  # keep the random walk from drifting
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spectrum = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0

    def hum(mains: float) -> npt.NDArray[np.float64]:
        return sum(level * np.sin(2 * np.pi * mains * k * t) for k, level in [(1, 1.0), (2, 0.5), (3, 0.3), (5, 0.2)])

    return {
        "silence": np.zeros(n, dtype=np.float32),
        "dither": at(rng.standard_normal(n), -70),
        "white -30 dBFS": at(rng.standard_normal(n), -30),
        "white -20 dBFS": at(rng.standard_normal(n), -20),
        "brown -20 dBFS": at(brown, -20),
        "pink -25 dBFS": at(np.fft.irfft(spectrum, n), -25),
        "hum 50 Hz": at(hum(50), -20),
        "hum 60 Hz": at(hum(60), -20),
    }


@pytest.mark.parametrize("name", list(_noises()))
def test_noise_only_streams_give_no_utterance(name: str) -> None:
    assert run_stream(_noises()[name], VadOptions()) == []


def test_speech_after_speech_then_noise_is_not_carried_over(clips: list[Audio]) -> None:
    """A recurrent state left over from speech must not make the noise that follows a pause speech."""
    gap = np.zeros(round(GAP_S * SR), dtype=np.float32)
    noise = (np.random.default_rng(5).standard_normal(3 * SR) * 0.1).astype(np.float32)
    found = utterances(run_stream(np.concatenate([gap, clips[0], gap, noise, gap]), VadOptions()))
    assert len(found) == 1
    assert found[0].end < len(gap) + len(clips[0]) + SR // 2


def test_onnx_scorer_matches_the_silero_package(clips: list[Audio]) -> None:
    torch = pytest.importorskip("torch")
    from silero_vad import load_silero_vad  # imports torch: only here, never in app/

    reference = load_silero_vad(onnx=True)
    ours = SileroScorer(VadOptions().silero)
    audio = np.concatenate(clips[:2])
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = audio[i : i + FRAME_SAMPLES]
        expected = float(reference(torch.from_numpy(frame.copy()), SR).item())
        assert ours.probability(frame) == pytest.approx(expected, abs=1e-5)


def test_torchscript_backend_agrees_with_onnx(clips: list[Audio]) -> None:
    pytest.importorskip("torch")
    onnx = SileroScorer(VadOptions().silero)
    jit = SileroScorer(VadOptions(silero={"use_onnx": False}).silero)
    audio = clips[0]
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = audio[i : i + FRAME_SAMPLES]
        assert jit.probability(frame) == pytest.approx(onnx.probability(frame), abs=1e-3)


def test_detector_costs_little_cpu(speech_stream: tuple[Audio, list[tuple[int, int]]]) -> None:
    audio, _ = speech_stream
    noise = np.random.default_rng(3).standard_normal(10 * SR).astype(np.float32) * 0.1
    stream = np.concatenate([audio, noise])
    options = VadOptions()
    VoiceDetector(options).push(stream[:SR])  # load the shared model first
    detector = VoiceDetector(options)
    started = time.process_time()
    for i in range(0, len(stream), 1600):
        detector.push(stream[i : i + 1600])
    cpu_per_audio_second = (time.process_time() - started) / (len(stream) / SR)
    print(f"VoiceDetector: {cpu_per_audio_second * 1000:.2f} ms CPU per second of audio")
    assert cpu_per_audio_second < 0.05  # measured ~5 ms (0.5 % of a core); generous for busy CI
