"""Real speech through the streaming core with the real tiny.en model (no Ray)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.config import ModelSettings, ServerSettings
from app.engines import WhisperEngine, WhisperTranscriber
from app.options import AudioOptions, SessionOptions
from app.session.controller import StreamSession
from app.session.ports import Ports
from app.transcript import SAMPLE_RATE
from tests.encoding import FORMATS, encode
from tests.wer import pooled_wer

pytestmark = pytest.mark.model

WER_CLIPS = ["jfk", "LDC93S1", "new_home_in_the_stars"] + [f"sb_spk{s}_snt{n}" for s in (1, 2) for n in range(1, 6)]


@pytest.fixture(scope="module")
def ports() -> Iterator[Ports]:
    realtime = WhisperEngine(ModelSettings(window="trimmed"))
    main = WhisperEngine(ModelSettings(window="trimmed"))
    yield Ports(realtime=WhisperTranscriber(realtime), main=WhisperTranscriber(main))
    realtime.close()
    main.close()


async def stream(
    ports: Ports, chunks: list[bytes], *, options: SessionOptions | None = None, realtime: bool = False
) -> list[p.ServerMessage]:
    messages: list[p.ServerMessage] = []

    async def emit(msg: p.ServerMessage) -> None:
        messages.append(msg)

    session = StreamSession("t", settings=ServerSettings(), ports=ports, emit=emit, enforce_realtime=False)
    await session.handle(p.StartStream(options=options or SessionOptions()))
    t0 = time.monotonic()
    for i, chunk in enumerate(chunks):
        if realtime:
            await asyncio.sleep(max(0.0, t0 + i * 0.1 - time.monotonic()))
        else:
            await asyncio.sleep(0)
        await session.feed(chunk)
    await session.handle(p.StopStream())
    return messages


def pcm_chunks(audio: np.ndarray, tail_s: float = 1.0) -> list[bytes]:
    pcm = to_pcm16(np.concatenate([audio, np.zeros(int(tail_s * SAMPLE_RATE), np.float32)]))
    return [pcm[i : i + 3200] for i in range(0, len(pcm), 3200)]


def finals(messages: list[p.ServerMessage]) -> list[p.FinalResult]:
    return [m for m in messages if isinstance(m, p.FinalResult)]


async def test_pooled_final_wer_on_human_clips(ports: Ports, shared_data: Path, manifest: list[dict[str, Any]]) -> None:
    by_id = {c["id"]: c for c in manifest}
    pairs = []
    for clip_id in WER_CLIPS:
        clip = by_id[clip_id]
        messages = await stream(ports, pcm_chunks(load_audio(shared_data / clip["file"])))
        got = finals(messages)
        assert got, f"{clip_id}: no final"
        assert [f.seq for f in got] == list(range(1, len(got) + 1))
        # every utterance that ended got exactly one final (none is silent speech here)
        ends = [m.utterance_id for m in messages if isinstance(m, p.UtteranceEnd)]
        assert sorted(f.utterance_id for f in got) == ends, clip_id
        pairs.append((clip["reference"], " ".join(f.data.text for f in got)))
    score = pooled_wer(pairs)
    assert score <= 0.10, f"pooled WER {score:.3f}: {pairs}"


async def test_partials_grow_before_the_final_in_real_time(ports: Ports, shared_data: Path) -> None:
    messages = await stream(ports, pcm_chunks(load_audio(shared_data / "clips" / "jfk.flac")), realtime=True)
    partials = [m for m in messages if isinstance(m, p.PartialResult)]
    got = finals(messages)
    assert len(partials) >= 5 and got
    first_final = messages.index(got[0])
    assert any(messages.index(m) < first_final for m in partials)
    for final in got:  # each utterance's partials come before its final, never after
        uid = final.utterance_id
        own = [i for i, m in enumerate(messages) if isinstance(m, p.PartialResult) and m.utterance_id == uid]
        assert own and max(own) < messages.index(final)
    stable = [m.data.stable_text for m in partials if m.data.stable_text]
    assert stable, "LocalAgreement never confirmed a word"


def generated_noise(kind: str, seconds: float = 8.0) -> np.ndarray:
    rng = np.random.default_rng(7)
    n = int(seconds * SAMPLE_RATE)
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "white":
        return (rng.standard_normal(n) * 0.03).astype(np.float32)
    if kind == "brown":
        walk = np.cumsum(rng.standard_normal(n))
        walk -= np.convolve(walk, np.ones(800) / 800, mode="same")
        return (walk / np.abs(walk).max() * 0.1).astype(np.float32)
    t = np.arange(n) / SAMPLE_RATE
    return (0.05 * np.sin(2 * np.pi * 50 * t) + 0.02 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)


@pytest.mark.parametrize("kind", ["silence", "white", "brown", "hum"])
async def test_silence_and_noise_give_no_final(ports: Ports, kind: str) -> None:
    messages = await stream(ports, pcm_chunks(generated_noise(kind), tail_s=0))
    assert finals(messages) == []
    assert isinstance(messages[-1], p.SessionEnded)


@pytest.mark.parametrize("name", ["wav-s16", "mp3", "ogg-opus"])
async def test_encodings_give_the_same_final_as_pcm(ports: Ports, shared_data: Path, name: str) -> None:
    source = load_audio(shared_data / "clips" / "new-home-in-the-stars-16k.wav")
    padded = np.concatenate([source, np.zeros(SAMPLE_RATE, np.float32)])
    baseline = " ".join(f.data.text for f in finals(await stream(ports, pcm_chunks(padded, tail_s=0))))
    spec = FORMATS[name]
    data = encode(np.stack([padded, padded]), SAMPLE_RATE, spec)
    options = SessionOptions(audio=AudioOptions(encoding=spec.encoding))
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    text = " ".join(f.data.text for f in finals(await stream(ports, chunks, options=options)))
    assert text == baseline
