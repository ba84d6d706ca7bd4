"""The compatible APIs driven by the vendors' own, unmodified SDKs (deepgram-sdk, assemblyai, openai)
against the real Serve app and real tiny.en, on real clips: only the base URL and the key change."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from assemblyai.streaming.v3 import (
    StreamingClient,
    StreamingClientOptions,
    StreamingError,
    StreamingEvents,
    StreamingParameters,
)
from deepgram import AsyncDeepgramClient, DeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment
from openai import AuthenticationError, BadRequestError, OpenAI

from tests.compat_audio import DIALOGUE, JFK, joined, wav_bytes
from tests.wer import wer

pytestmark = pytest.mark.e2e

CHUNK = 3200  # 100 ms of 16 kHz PCM16
SPEED = 3.0  # times real time: within the server's pace limit (4x after a 10 s burst)


def deepgram_env(base: str) -> DeepgramClientEnvironment:
    """How Deepgram's SDK is pointed at a self-hosted server: an environment with its URLs."""
    ws = base.replace("http://", "ws://")
    return DeepgramClientEnvironment(base=base, production=ws, agent=ws, agent_rest=base)


async def send_paced(send: Any, pcm: bytes) -> None:
    for i in range(0, len(pcm), CHUNK):
        await send(pcm[i : i + CHUNK])
        await asyncio.sleep(CHUNK / 32000 / SPEED)


# --------------------------------------------------------------------------- Deepgram


async def test_deepgram_live_results_finalize_close(serve_url: str, shared_data: Path) -> None:
    clips = shared_data / "clips"
    first = joined(clips, ["jfk.flac"], tail_s=1.5)
    second = joined(clips, ["sb_spk2_snt5.wav"], lead_s=0.3, tail_s=0.0)  # no pause after it: Finalize ends it
    client = AsyncDeepgramClient(api_key="key-a", environment=deepgram_env(serve_url))
    seen: list[Any] = []
    finalized = asyncio.Event()
    async with client.listen.v1.connect(
        model="nova-3",
        encoding="linear16",
        sample_rate="16000",
        interim_results="true",
        vad_events="true",
        utterance_end_ms="1000",
        punctuate="true",
    ) as socket:

        async def read() -> None:
            async for msg in socket:
                seen.append(msg)
                if getattr(msg, "from_finalize", False):
                    finalized.set()

        reader = asyncio.create_task(read())
        await send_paced(socket.send_media, first)
        await send_paced(socket.send_media, second)
        await socket.send_finalize()
        await asyncio.wait_for(finalized.wait(), 20)
        await socket.send_close_stream()
        await asyncio.wait_for(reader, 20)
    kinds = [m.type for m in seen]
    results = [m for m in seen if m.type == "Results"]
    finals = [m for m in results if m.is_final]
    assert any(not m.is_final for m in results), kinds  # interim results
    assert "SpeechStarted" in kinds and "UtteranceEnd" in kinds, kinds
    assert kinds[-1] == "Metadata" and seen[-1].duration > 12, seen[-1]
    jfk = " ".join(m.channel.alternatives[0].transcript for m in finals if not m.from_finalize)
    assert wer(JFK, jfk) <= 0.10, jfk
    assert any(m.speech_final for m in finals if not m.from_finalize)
    (last,) = [m for m in finals if m.from_finalize]
    assert wer("jump the fence and hurry up the bank", last.channel.alternatives[0].transcript) <= 0.25
    words = finals[0].channel.alternatives[0].words
    assert words and all(w.start <= w.end and 0 <= w.confidence <= 1 and w.punctuated_word for w in words)
    assert finals[0].metadata.request_id == seen[-1].request_id
    # the stream is a stored session like any other
    async with httpx.AsyncClient(base_url=serve_url, headers={"Authorization": "Bearer key-a"}) as http:
        rest = await http.get(f"/v1/sessions/{seen[-1].request_id}")
    assert rest.status_code == 200 and rest.json()["status"] == "ended", rest.text


async def test_deepgram_live_refuses_bad_key_and_bad_parameters(serve_url: str) -> None:
    wrong = AsyncDeepgramClient(api_key="wrong-key", environment=deepgram_env(serve_url))
    with pytest.raises(ApiError) as refused:
        async with wrong.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate="16000"):
            pass
    assert refused.value.status_code in (401, 403)
    client = AsyncDeepgramClient(api_key="key-a", environment=deepgram_env(serve_url))
    with pytest.raises(ApiError) as bad:
        async with client.listen.v1.connect(model="nova-3", encoding="flac", sample_rate="16000"):
            pass
    assert bad.value.status_code in (400, 403)


def test_deepgram_prerecorded_utterances_and_speakers(serve_url: str, shared_data: Path) -> None:
    audio = wav_bytes(joined(shared_data / "clips", [name for name, _ in DIALOGUE]))
    env = deepgram_env(serve_url)
    with httpx.Client(timeout=120) as http:  # closed here: the SDK's own client would linger
        client = DeepgramClient(api_key="key-a", environment=env, httpx_client=http)
        response = client.listen.v1.media.transcribe_file(
            request=audio, model="nova-3", utterances=True, diarize=True, punctuate=True
        )
        alternative = response.results.channels[0].alternatives[0]
        assert wer(" ".join(ref for _, ref in DIALOGUE), alternative.transcript) <= 0.15, alternative.transcript
        utterances = response.results.utterances
        assert utterances is not None and len(utterances) == len(DIALOGUE), utterances
        speakers = [u.speaker for u in utterances]
        assert speakers[0] == speakers[2] and speakers[1] == speakers[3] and speakers[0] != speakers[1], speakers
        assert {w.speaker for w in alternative.words} == {0, 1}
        assert response.metadata.duration == pytest.approx(len(audio) / 32000, abs=0.1)
        # a short-lived token from /v1/auth/grant works as the SDK's access_token
        grant = client.auth.v1.tokens.grant(ttl_seconds=60)
        with_token = DeepgramClient(access_token=grant.access_token, environment=env, httpx_client=http)
        jfk = wav_bytes(joined(shared_data / "clips", ["jfk.flac"]))
        again = with_token.listen.v1.media.transcribe_file(request=jfk)
        assert wer(JFK, again.results.channels[0].alternatives[0].transcript) <= 0.10
        wrong = DeepgramClient(api_key="wrong-key", environment=env, httpx_client=http)
        with pytest.raises(ApiError) as refused:
            wrong.listen.v1.media.transcribe_file(request=audio)
    assert refused.value.status_code == 401 and refused.value.body["err_code"] == "INVALID_AUTH"


# --------------------------------------------------------------------------- AssemblyAI


def test_assemblyai_streaming_turns_and_termination(serve_url: str, shared_data: Path) -> None:
    pcm = joined(shared_data / "clips", ["sb_spk1_snt1.wav", "LDC93S1.wav"], gap_s=1.2, tail_s=1.2)
    ws_host = serve_url.replace("http://", "ws://")  # the SDK takes a ws:// host for self-hosted endpoints
    token = httpx.get(
        f"{serve_url}/v3/token", params={"expires_in_seconds": 60}, headers={"Authorization": "key-a"}
    ).json()["token"]
    client = StreamingClient(StreamingClientOptions(token=token, api_host=ws_host))
    events: dict[str, list[Any]] = {"begin": [], "turn": [], "end": [], "error": []}
    done = threading.Event()
    client.on(StreamingEvents.Begin, lambda _, e: events["begin"].append(e))
    client.on(StreamingEvents.Turn, lambda _, e: events["turn"].append(e))
    client.on(StreamingEvents.Termination, lambda _, e: (events["end"].append(e), done.set()))
    client.on(StreamingEvents.Error, lambda _, e: (events["error"].append(e), done.set()))
    client.connect(StreamingParameters(sample_rate=16000, format_turns=True, max_turn_silence=600, speaker_labels=True))

    def paced() -> Any:
        for i in range(0, len(pcm), CHUNK):
            time.sleep(CHUNK / 32000 / SPEED)
            yield pcm[i : i + CHUNK]

    client.stream(paced())
    time.sleep(len(pcm) / 32000 / SPEED + 1.0)  # stream() only queues: let the writer send it all
    client.disconnect(terminate=True)
    assert done.wait(10) and not events["error"], events["error"]
    assert len(events["begin"]) == 1 and events["begin"][0].id
    turns = events["turn"]
    ends = [t for t in turns if t.end_of_turn]
    formatted = [t for t in ends if t.turn_is_formatted]
    assert any(not t.end_of_turn for t in turns)  # partials of a turn in progress
    assert len(formatted) == 2 and len(ends) == 4, [(t.turn_order, t.end_of_turn, t.turn_is_formatted) for t in ends]
    assert [t.turn_order for t in formatted] == [0, 1]
    assert wer("the child almost hurt the small dog", formatted[0].transcript) <= 0.2, formatted[0].transcript
    # base writes "She had a dark suit in greasy washwater all year.": 3 of 11 words
    assert wer("she had your dark suit in greasy wash water all year", formatted[1].transcript) <= 0.3
    assert formatted[0].transcript[0].isupper() and all(w.word_is_final for w in formatted[0].words)
    assert events["end"][0].audio_duration_seconds == round(len(pcm) / 32000)
    assert formatted[0].speaker_label == "A" and formatted[1].speaker_label == "B"  # two voices


def test_assemblyai_refuses_a_bad_key(serve_url: str) -> None:
    client = StreamingClient(StreamingClientOptions(api_key="wrong-key", api_host=serve_url.replace("http", "ws")))
    errors: list[StreamingError] = []
    got = threading.Event()
    client.on(StreamingEvents.Error, lambda _, e: (errors.append(e), got.set()))
    client.connect(StreamingParameters(sample_rate=16000))
    assert got.wait(10)
    client.disconnect()
    assert errors[0].code == 1008, errors


# --------------------------------------------------------------------------- OpenAI


def test_openai_transcriptions_formats_stream_and_translations(serve_url: str, shared_data: Path) -> None:
    with OpenAI(api_key="key-a", base_url=f"{serve_url}/v1") as client:
        _openai_calls(client, serve_url, shared_data / "clips" / "jfk.flac")


def _openai_calls(client: OpenAI, serve_url: str, jfk: Path) -> None:
    with jfk.open("rb") as f:
        text = client.audio.transcriptions.create(file=f, model="whisper-1")
    assert wer(JFK, text.text) <= 0.10, text.text
    with jfk.open("rb") as f:
        verbose = client.audio.transcriptions.create(
            file=f, model="whisper-1", response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert verbose.duration == pytest.approx(11.0, abs=0.1) and verbose.language == "english"
    assert verbose.words and verbose.segments and verbose.words[0].word.lower().startswith("and")
    assert all(a.end <= b.start + 0.01 for a, b in zip(verbose.words, verbose.words[1:], strict=False))
    with jfk.open("rb") as f:
        srt = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="srt")
    assert srt.startswith("1\n00:00:0") and "-->" in srt
    with jfk.open("rb") as f:
        events = list(client.audio.transcriptions.create(file=f, model="gpt-4o-transcribe", stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 2 and events[-1].type == "transcript.text.done"
    assert "".join(deltas) == events[-1].text and wer(JFK, events[-1].text) <= 0.10
    # the SDK marks OpenAI's translations endpoint deprecated (it still serves it, and so does this server)
    with jfk.open("rb") as f, pytest.warns(DeprecationWarning):
        translated = client.audio.translations.create(file=f, model="whisper-1")
    assert wer(JFK, translated.text) <= 0.10  # English speech: the translation is the transcript
    wrong = OpenAI(api_key="wrong-key", base_url=f"{serve_url}/v1")
    with jfk.open("rb") as f, wrong, pytest.raises(AuthenticationError):
        wrong.audio.transcriptions.create(file=f, model="whisper-1")
    with pytest.raises(BadRequestError) as bad:
        client.audio.transcriptions.create(file=("notes.txt", b"not audio at all"), model="whisper-1")
    assert bad.value.body["param"] == "file"  # type: ignore[index]
