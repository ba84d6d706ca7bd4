"""Speaker turns over the wire with in-process ports: the real app, the real VAD, real speech, a scripted
speech model and a fake speaker model that tells two voices apart by their level (``LevelEmbedder``).
What is asserted is the plumbing of diarization: a change of speaker ends the utterance
(``speaker_change``), ``speaker_revision`` goes through the store and comes back on resume, and a
session taken over by a new host keeps its speakers' labels."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from app import protocol as p
from app.audio.files import load_audio, to_pcm16
from app.config import StoreSettings
from app.enrich.enrichers import Enrichment
from app.metrics import MemoryMetrics
from app.options import SessionOptions
from app.service.local import LocalDirectory
from app.service.routes import build_app
from app.session.host import SessionHost
from app.session.ports import Ports
from app.session.storage import HostStorage
from app.store import TranscriptStore
from app.transcript import SAMPLE_RATE, Audio
from tests.fakes.enrichment import KeywordAnalyzer, LevelEmbedder, at_peak
from tests.fakes.models import ScriptedTranscriber
from tests.integration.conftest import (
    Message,
    Stack,
    make_settings,
    of_type,
    read_until,
    send_audio,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(60)

DIARIZE = {"features": {"speaker_diarization": True, "interim_results": False}}
QUIET, LOUD = -26.0, -2.0  # the two "voices": the same kind of speech at two levels (peak 20 ms frame)


@pytest.fixture
def app_with_speakers() -> Iterator[Callable[..., Stack]]:
    """``make(store=…, stages=…)``: the app with the real enrichment stages over a LevelEmbedder (or the
    stages ``stages()`` gives a session), with the transcript store when asked."""
    with contextlib.ExitStack() as outer:

        def make(store: StoreSettings | None = None, stages: Callable[[], list[Any]] | None = None) -> Stack:
            settings = make_settings()
            if store is not None:
                settings.store = store
            model, metrics = ScriptedTranscriber(), MemoryMetrics()
            enrichment = Enrichment(settings.enrichment, LevelEmbedder(), KeywordAnalyzer())

            def ports() -> Ports:
                if stages is not None:
                    return Ports(realtime=model, main=model, enrichers=stages())
                finals, partials = enrichment.for_session()
                return Ports(realtime=model, main=model, enrichers=finals, partial_enrichers=partials)

            storage = HostStorage.from_settings(store, metrics=metrics) if store else None
            rest_store = TranscriptStore(store) if store else None
            host = SessionHost(settings, ports, metrics=metrics, storage=storage)
            resources = outer.enter_context(contextlib.ExitStack())
            client = resources.enter_context(
                TestClient(build_app(settings, LocalDirectory([host]), metrics=metrics, store=rest_store))
            )
            assert client.portal is not None
            for closing in (rest_store, storage.store if storage else None):
                if closing is not None:
                    resources.callback(client.portal.call, closing.close)
            resources.callback(client.portal.call, host.shutdown)
            return Stack(client, host, metrics, settings, rest_store, resources)

        yield make


@functools.cache
def clip(name: str) -> Audio:
    return load_audio(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "clips" / name)


def call(*turns: tuple[str, float], gap_s: float = 0.15, tail_s: float = 1.5) -> bytes:
    """Clips at a level each, ``gap_s`` apart (too short to end an utterance), as one PCM16 stream."""
    parts = [np.zeros(SAMPLE_RATE // 2, np.float32)]
    for name, level in turns:
        parts += [at_peak(clip(name), level), np.zeros(int(gap_s * SAMPLE_RATE), np.float32)]
    parts.append(np.zeros(int(tail_s * SAMPLE_RATE), np.float32))
    return to_pcm16(np.concatenate(parts))


def finals_of(messages: list[Message]) -> list[p.FinalResult]:
    return [p.FinalResult.model_validate(m) for m in of_type(messages, "final_result")]


def speakers_of(final: p.FinalResult) -> set[str]:
    assert final.data.speakers is not None, final.data.text
    return {d.id for d in final.data.speakers.details} | {w.speaker or "" for w in final.data.words}


def test_a_change_of_speaker_ends_the_utterance_and_each_final_is_one_speaker(
    app_with_speakers: Callable[..., Stack],
) -> None:
    app = app_with_speakers()
    # quiet voice, loud voice, quiet again: 0.15 s between turns, never a pause that ends an utterance
    pcm = call(
        ("sb_spk1_snt1.wav", QUIET),
        ("sb_spk1_snt2.wav", LOUD),
        ("sb_spk1_snt5.wav", LOUD),
        ("sb_spk1_snt3.wav", QUIET),
        ("sb_spk1_snt4.wav", QUIET),
    )
    with app.control() as control:
        sid = start(control, options=DIARIZE)["session_id"]
        with app.audio(session_id=sid) as audio:
            send_audio(audio, pcm)
            messages, _ = stop(control)
    ends = of_type(messages, "utterance_end")
    assert [e["reason"] for e in ends].count("speaker_change") >= 2, [e["reason"] for e in ends]
    finals = finals_of(messages)
    assert [speakers_of(f) for f in finals][:3] == [{"speaker_1"}, {"speaker_2"}, {"speaker_1"}]
    assert all(len(speakers_of(f)) == 1 for f in finals)
    # the turns meet where the speaker changed: one utterance ends where the next starts
    for end, nxt in zip(ends, of_type(messages, "speech_started")[1:], strict=False):
        if end["reason"] == "speaker_change":
            assert nxt["audio_start"] == end["audio_end"]


def test_without_split_on_speaker_change_a_turn_stays_inside_the_utterance(
    app_with_speakers: Callable[..., Stack],
) -> None:
    app = app_with_speakers()
    pcm = call(("sb_spk1_snt1.wav", QUIET), ("sb_spk1_snt2.wav", LOUD))
    options = {**DIARIZE, "diarization": {"split_on_speaker_change": False}}
    with app.control() as control:
        sid = start(control, options=options)["session_id"]
        with app.audio(session_id=sid) as audio:
            send_audio(audio, pcm)
            messages, _ = stop(control)
    assert "speaker_change" not in {e["reason"] for e in of_type(messages, "utterance_end")}
    [final] = finals_of(messages)
    assert final.data.speakers is not None and [d.id for d in final.data.speakers.details] == [
        "speaker_1",
        "speaker_2",
    ]


@pytest.fixture
def store_settings(database_url: str, tmp_path: Path) -> StoreSettings:
    return StoreSettings(database_url=database_url, data_dir=str(tmp_path))


def test_a_session_taken_over_by_a_new_host_keeps_its_speakers(
    app_with_speakers: Callable[..., Stack], store_settings: StoreSettings
) -> None:
    before = app_with_speakers(store=store_settings)
    with before.control() as control:
        sid = start(control, options=DIARIZE)["session_id"]
        with before.audio(session_id=sid) as audio:
            send_audio(audio, call(("sb_spk1_snt1.wav", QUIET), gap_s=1.5))
            first = finals_of(read_until(control, "final_result"))
            send_audio(audio, call(("sb_spk1_snt2.wav", LOUD), gap_s=1.5))
            second = finals_of(read_until(control, "final_result"))
    assert [speakers_of(f) for f in first + second] == [{"speaker_1"}, {"speaker_2"}]
    before.crash()

    after = app_with_speakers(store=store_settings)  # a new process on the same database
    with after.control(session_id=sid) as control:
        assert start(control, last_seq=2)["resumed"] is True
        with after.audio(session_id=sid) as audio:
            # the loud voice first: on a host that had forgotten the speakers it would be speaker_1
            send_audio(audio, call(("sb_spk1_snt5.wav", LOUD), gap_s=1.5))
            third = finals_of(read_until(control, "final_result"))
            send_audio(audio, call(("sb_spk1_snt3.wav", QUIET), gap_s=1.5))
            fourth = finals_of(read_until(control, "final_result"))
        stop(control)
    assert [speakers_of(f) for f in third + fourth] == [{"speaker_2"}, {"speaker_1"}]


class ScriptedReviser:
    """A final stage that labels every final speaker_1 and, after the second, revises the first's
    second word to speaker_2 (what the diarization stage does when later speech shows it was wrong)."""

    def __init__(self) -> None:
        self._pending: list[p.SpeakerRevision] = []
        self._first: p.FinalResult | None = None

    async def enrich(self, final: p.FinalResult, audio: Audio, options: SessionOptions) -> p.FinalResult:
        words = [w.model_copy(update={"speaker": "speaker_1"}) for w in final.data.words]
        detail = p.SpeakerDetail(
            id="speaker_1",
            speaking_time=final.data.audio.duration,
            segments=[p.SpeakerSegment(start=final.data.audio.start, end=final.data.audio.end)],
        )
        speakers = p.Speakers(count=1, details=[detail])
        final = final.model_copy(update={"data": final.data.model_copy(update={"words": words, "speakers": speakers})})
        if self._first is None:
            self._first = final
        elif not self._pending:
            first = self._first
            both = p.Speakers(count=2, details=[detail, detail.model_copy(update={"id": "speaker_2"})])
            revised = p.RevisedFinal(
                seq=first.seq,
                utterance_id=first.utterance_id,
                speakers=both,
                words=[p.WordSpeaker(index=1, speaker="speaker_2")],
            )
            self._pending.append(
                p.SpeakerRevision(session_id=final.session_id, revision=1, after_seq=0, finals=[revised])
            )
        return final

    def follow_ups(self, after_seq: int) -> list[p.ServerMessage]:
        out: list[p.ServerMessage] = [r.model_copy(update={"after_seq": after_seq}) for r in self._pending]
        self._pending = []
        return out


def test_a_speaker_revision_is_stored_applied_and_replayed_on_resume(
    app_with_speakers: Callable[..., Stack], store_settings: StoreSettings
) -> None:
    before = app_with_speakers(store=store_settings, stages=lambda: [ScriptedReviser()])
    with before.control() as control:
        sid = start(control, options=DIARIZE)["session_id"]
        with before.audio(session_id=sid) as audio:
            send_audio(audio, call(("sb_spk1_snt1.wav", QUIET), ("sb_spk1_snt2.wav", QUIET), gap_s=1.5))
            seen = read_until(control, "final_result")
            seen += read_until(control, "speaker_revision")
    assert [m["type"] for m in seen if m["type"] in ("final_result", "speaker_revision")] == [
        "final_result",
        "final_result",
        "speaker_revision",
    ]
    revision = p.SpeakerRevision.model_validate(seen[-1])
    assert revision.after_seq == 2 and revision.finals[0].seq == 1
    sent = finals_of(seen)
    before.crash()

    after = app_with_speakers(store=store_settings, stages=lambda: [ScriptedReviser()])
    assert after.store is not None
    stored = after.call(after.store.finals, sid)
    assert stored[0] == revision.apply(sent[0]) != sent[0]  # the stored final carries the revision
    assert stored[1] == sent[1]
    assert after.call(after.store.revisions, sid) == [revision]
    # a client that had final 1 only gets final 2 and the revision again, in the order they were sent
    with after.control(session_id=sid) as control:
        assert start(control, last_seq=1)["resumed"] is True
        replayed = [control.receive_json() for _ in range(2)]
        stop(control)
    assert [m["type"] for m in replayed] == ["final_result", "speaker_revision"]
    assert p.SpeakerRevision.model_validate(replayed[1]) == revision
