from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from app import protocol as p
from app.errors import InvalidMessage, UnknownCommand

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "protocol.json"


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "start_stream"},
        {"type": "start_stream", "audio_start": "2026-01-01T00:00:00Z", "options": {"audio": {"sample_rate": 8000}}},
        {"type": "stop_stream", "audio_end": "2026-01-01T00:00:05Z"},
        {"type": "pause_stream"},
        {"type": "resume_stream"},
        {"type": "configure", "options": {"features": {"interim_results": False}}},
        {"type": "finalize"},
        {"type": "keep_alive"},
    ],
)
def test_client_messages_round_trip(raw: dict[str, object]) -> None:
    msg = p.parse_client_message(json.dumps(raw))
    again = p.parse_client_message(msg.model_dump_json())
    assert again == msg
    assert msg.type == raw["type"]


@pytest.mark.parametrize(
    ("raw", "error", "fragment"),
    [
        ("{not json", InvalidMessage, "not valid JSON"),
        ("[1, 2]", InvalidMessage, "JSON object"),
        ('{"kind": "start_stream"}', InvalidMessage, "no 'type'"),
        ('{"type": "launch_rockets"}', UnknownCommand, "unknown command 'launch_rockets'"),
        ('{"type": "pause_stream", "extra": 1}', InvalidMessage, "extra: unknown field"),
        ('{"type": "start_stream", "options": {"audio": {"channels": 6}}}', InvalidMessage, "channels 6"),
        ('{"type": "start_stream", "options": {"vad": {"webrtc": {"sensitivity": 7}}}}', InvalidMessage, "7"),
        ('{"type": "start_stream", "audio_start": "yesterday"}', InvalidMessage, "audio_start"),
    ],
)
def test_bad_client_messages_rejected(raw: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        p.parse_client_message(raw)
    assert fragment in str(info.value)


def test_error_codes_are_stable() -> None:
    assert InvalidMessage.code == "invalid_message"
    assert UnknownCommand.code == "unknown_command"


def final_example() -> p.FinalResult:
    return p.FinalResult(
        session_id="s1",
        utterance_id=1,
        seq=1,
        data=p.FinalData(
            text="Hello world.",
            confidence=0.93,
            audio=p.AudioSpan(start=0.5, end=1.7, duration=1.2),
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            speakers=p.Speakers(
                count=1,
                details=[
                    p.SpeakerDetail(id="speaker_1", speaking_time=1.2, segments=[p.SpeakerSegment(start=0.5, end=1.7)])
                ],
            ),
            analysis=p.Analysis(
                sentiment=p.Sentiment(
                    overall=p.SentimentScore(label="positive", score=0.8),
                    by_sentence=[p.SentenceSentiment(text="Hello world.", sentiment="positive", score=0.8)],
                ),
                topics=[p.Topic(topic="greeting", confidence=0.7, mentions=["Hello world."])],
            ),
            filters=p.Filters(profanity=p.Profanity(detected=False, filtered_words=[])),
            words=[p.Word(word="Hello", start=0.5, end=0.9, confidence=0.95)],
        ),
    )


def test_final_result_has_the_seed_field_names() -> None:
    data = json.loads(final_example().model_dump_json())["data"]
    assert set(data) >= {"text", "is_final", "confidence", "audio", "timestamp", "speakers", "analysis", "filters"}
    assert set(data["audio"]) == {"start", "end", "duration"}
    assert set(data["speakers"]) == {"count", "details"}
    assert set(data["speakers"]["details"][0]) == {"id", "speaking_time", "segments"}
    assert set(data["analysis"]["sentiment"]) == {"overall", "by_sentence"}
    assert set(data["analysis"]["sentiment"]["overall"]) == {"label", "score"}
    assert set(data["analysis"]["sentiment"]["by_sentence"][0]) == {"text", "sentiment", "score"}
    assert set(data["analysis"]["topics"][0]) == {"topic", "confidence", "mentions"}
    assert set(data["filters"]["profanity"]) == {"detected", "filtered_words"}
    assert data["is_final"] is True


def test_partial_result_has_the_seed_field_names() -> None:
    msg = p.PartialResult(
        session_id="s",
        utterance_id=1,
        data=p.PartialData(
            text="hel", confidence=0.5, timestamp=datetime(2026, 1, 1, tzinfo=UTC), audio_start=0.0, audio_current=0.4
        ),
    )
    data = json.loads(msg.model_dump_json())["data"]
    assert set(data) >= {
        "text",
        "confidence",
        "timestamp",
        "is_final",
        "audio_start",
        "audio_current",
        "speaker",
        "wake_word_detected",
    }
    assert data["is_final"] is False


def test_server_messages_round_trip() -> None:
    final = final_example()
    assert p.parse_server_message(final.model_dump_json()) == final
    err = p.Error(session_id="s", code="frame_too_large", message="frame of 9000 bytes exceeds 8192")
    assert p.parse_server_message(err.model_dump_json()) == err


def test_a_speaker_revision_round_trips_and_applies_to_the_final_it_names() -> None:
    final = final_example()
    words = [p.Word(word=w, start=0.5, end=0.9, confidence=0.9, speaker="speaker_2") for w in "ab"]
    final = final.model_copy(update={"data": final.data.model_copy(update={"words": words})})
    revised_speakers = p.Speakers(
        count=1,
        details=[p.SpeakerDetail(id="speaker_1", speaking_time=1.2, segments=[p.SpeakerSegment(start=0.5, end=1.7)])],
    )
    rev = p.SpeakerRevision(
        session_id="s1",
        revision=1,
        after_seq=3,
        finals=[
            p.RevisedFinal(
                seq=1,
                utterance_id=1,
                speakers=revised_speakers,
                words=[p.WordSpeaker(index=1, speaker="speaker_1"), p.WordSpeaker(index=9, speaker="speaker_1")],
            )
        ],
    )
    raw = json.loads(rev.model_dump_json())
    assert raw["type"] == "speaker_revision" and set(raw["finals"][0]) == {"seq", "utterance_id", "speakers", "words"}
    assert p.parse_server_message(rev.model_dump_json()) == rev
    applied = rev.apply(final)
    assert [w.speaker for w in applied.data.words] == ["speaker_2", "speaker_1"]  # index 9 is not a word: ignored
    assert applied.data.speakers == revised_speakers and applied.data.text == final.data.text
    other = final.model_copy(update={"seq": 2})
    assert rev.apply(other) is other  # not named
    with pytest.raises(ValidationError):
        p.parse_server_message({**raw, "revision": 0})


def test_exported_schema_is_in_sync() -> None:
    assert SCHEMA.exists(), "run `make schema` to export the protocol schema"
    assert json.loads(SCHEMA.read_text()) == json.loads(json.dumps(p.json_schema())), "run `make schema`"
