"""Enrichment over the wire with in-process ports: the real app, real VAD, a scripted
speech model and fake enrichment models, so what is asserted is the plumbing (fields
filled, per-session switches, configure, no model call for a feature that is off)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession

from app.enrich.enrichers import Enrichment
from app.metrics import MemoryMetrics
from app.service.local import LocalDirectory
from app.service.routes import build_app
from app.session.host import SessionHost
from app.session.ports import Ports
from tests.fakes.enrichment import KeywordAnalyzer, ToneEmbedder
from tests.fakes.models import ScriptedTranscriber
from tests.integration.conftest import AUTH_A, make_settings, of_type, read_until, send_audio, start, stop

pytestmark = pytest.mark.timeout(30)

# the scripted model says "alpha bravo charlie delta …", one word per 0.25 s of audio
ALL_ON: dict[str, Any] = {
    "features": {
        "speaker_diarization": True,
        "sentiment_analysis": {"enabled": True, "granularity": "utterance"},
        "topic_detection": {"enabled": True, "topics": ["delta: the fourth letter"]},
        "profanity_filter": {"enabled": True, "extra_words": ["charlie"]},
        "wake_words": {"enabled": True, "phrases": ["alpha bravo"]},
    }
}


@dataclass
class Enriched:
    client: TestClient
    embedder: ToneEmbedder
    analyzer: KeywordAnalyzer

    def control(self) -> WebSocketTestSession:
        return self.client.websocket_connect("/v1/stream/control", headers=AUTH_A)

    def audio(self, sid: str) -> WebSocketTestSession:
        return self.client.websocket_connect(f"/v1/stream/audio?session_id={sid}", headers=AUTH_A)


@pytest.fixture
def enriched() -> Iterator[Enriched]:
    settings = make_settings()
    embedder, analyzer, model = ToneEmbedder(), KeywordAnalyzer(), ScriptedTranscriber()
    enrichment = Enrichment(settings.enrichment, embedder, analyzer)

    def ports() -> Ports:  # as the Ray host does it: new enrichers (speaker clusters) for each session
        finals, partials = enrichment.for_session()
        return Ports(realtime=model, main=model, enrichers=finals, partial_enrichers=partials)

    host = SessionHost(settings, ports, metrics=MemoryMetrics())
    with TestClient(build_app(settings, LocalDirectory([host]))) as client:
        assert client.portal is not None
        yield Enriched(client, embedder, analyzer)
        client.portal.call(host.shutdown)


def test_all_features_fill_partials_and_finals(enriched: Enriched, speech: Callable[..., bytes]) -> None:
    with enriched.control() as control:
        sid = start(control, options=ALL_ON)["session_id"]
        with enriched.audio(sid) as audio:
            send_audio(audio, speech("sb_spk1_snt1.wav"))
            messages = read_until(control, "final_result")
    partials = of_type(messages, "partial_result")
    assert partials and all(m["data"]["speaker"] == "speaker_1" for m in partials)
    assert [m["data"]["wake_word_detected"] for m in partials].count(True) == 1  # where first heard
    assert all("charlie" not in m["data"]["text"].lower() for m in partials)
    data = messages[-1]["data"]
    assert data["speakers"]["count"] == 1 and data["speakers"]["details"][0]["id"] == "speaker_1"
    assert {w["speaker"] for w in data["words"]} == {"speaker_1"}
    assert data["analysis"]["sentiment"]["overall"]["label"] == "neutral"
    assert data["analysis"]["sentiment"]["by_sentence"] == []  # granularity: utterance
    assert [t["topic"] for t in data["analysis"]["topics"]] == ["delta"]
    assert data["filters"]["profanity"] == {"detected": True, "filtered_words": ["charlie"]}
    assert "bravo c****** delta" in data["text"] and data["wake_word_detected"] is True
    assert enriched.embedder.calls >= 1 and enriched.analyzer.calls == 1


def test_features_off_call_no_model_and_configure_turns_them_on(
    enriched: Enriched, speech: Callable[..., bytes]
) -> None:
    with enriched.control() as control:
        sid = start(control)["session_id"]
        with enriched.audio(sid) as audio:
            send_audio(audio, speech("sb_spk1_snt1.wav"))
            first = read_until(control, "final_result")[-1]["data"]
            assert first["speakers"] is None and first["analysis"] == {"sentiment": None, "topics": None}
            assert first["filters"]["profanity"]["detected"] is False and first["wake_word_detected"] is False
            assert enriched.embedder.calls == 0 and enriched.analyzer.calls == 0

            control.send_json({"type": "configure", "options": ALL_ON})
            send_audio(audio, speech("sb_spk2_snt1.wav"))
            second = read_until(control, "final_result")[-1]["data"]
            assert second["speakers"]["details"][0]["id"] == "speaker_1"
            assert second["analysis"]["topics"] is not None and second["filters"]["profanity"]["detected"]
            stop(control)
