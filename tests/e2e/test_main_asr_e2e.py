"""MainASR through the real Ray stack, in both batch strategies (``deployments/asr.py``).

On CPU (``parallel``) each request is a call of its own and goes back when that call ends: a short
final asked for together with a long one does not wait for it (with a batch it did: eight
utterances that end at once came back in lumps). ``stacked`` (the GPU layout) still gathers
requests into one CTranslate2 batch. Each strategy runs as its own small application (tiny.en)
beside the shared app, in the same Ray and Serve.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.audio.files import load_audio
from app.config import ModelSettings
from app.transcript import SAMPLE_RATE, TranscribeRequest, Transcript
from tests.wer import wer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
STRATEGIES = ("parallel", "stacked")


@pytest.fixture(scope="module")
def asr(serve_url: str) -> Iterator[dict[str, Any]]:
    from ray import serve

    from deployments.app import deployment
    from deployments.asr import ASR

    handles: dict[str, Any] = {}
    try:
        for strategy in STRATEGIES:
            model = ModelSettings(
                model="tiny.en", window="trimmed", num_workers=2, cpu_threads=1, batch_strategy=strategy
            ).model_dump(mode="json")
            app = deployment(ASR).options(name="MainASR", num_replicas=1).bind(model)
            handles[strategy] = serve.run(app, name=f"asr-{strategy}", route_prefix=None)
        yield handles
    finally:
        for strategy in STRATEGIES:
            serve.delete(f"asr-{strategy}")


@pytest.fixture(scope="module")
def clips(shared_data: Path) -> dict[str, TranscribeRequest]:
    jfk = load_audio(shared_data / "clips" / "jfk.flac")
    reading = load_audio(shared_data / "clips" / "two_cities.wav")[: 28 * SAMPLE_RATE]
    return {"short": TranscribeRequest(audio=jfk), "long": TranscribeRequest(audio=reading)}


async def test_on_cpu_a_short_final_does_not_wait_for_a_long_one(
    asr: dict[str, Any], clips: dict[str, TranscribeRequest]
) -> None:
    handle = asr["parallel"]
    long = asyncio.ensure_future(handle.transcribe.remote(clips["long"]))
    short = asyncio.ensure_future(handle.transcribe.remote(clips["short"]))
    done, _ = await asyncio.wait({long, short}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {short}, "the short final waited for the long one"
    assert not long.done()
    transcript: Transcript = short.result()
    assert wer(JFK, transcript.text) <= 0.2, transcript.text
    assert len((await long).text.split()) > 40


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_both_strategies_transcribe_concurrent_requests(
    strategy: str, asr: dict[str, Any], clips: dict[str, TranscribeRequest]
) -> None:
    handle = asr[strategy]
    results: list[Transcript] = await asyncio.gather(*(handle.transcribe.remote(clips["short"]) for _ in range(4)))
    assert len({r.text for r in results}) == 1, [r.text for r in results]
    assert wer(JFK, results[0].text) <= 0.2, results[0].text
