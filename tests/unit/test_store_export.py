"""Transcript exports from fixed finals: SRT and WebVTT parse, times never go backwards, speakers shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app import protocol as p
from app.store.export import FORMATS, MEDIA_TYPES, cues, render, speaker_of, to_srt, to_txt, to_vtt
from app.store.records import SessionRecord
from tests.subtitles import assert_monotonic, parse_srt, parse_vtt

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def final(
    seq: int,
    text: str,
    start: float,
    end: float,
    *,
    speakers: dict[str, float] | None = None,
    word_speakers: list[str] | None = None,
) -> p.FinalResult:
    voices: list[str | None] = [*(word_speakers or [])]
    words = [
        p.Word(word=w, start=start, end=end, confidence=0.9, speaker=voices[i] if i < len(voices) else None)
        for i, w in enumerate(text.split())
    ]
    details = None
    if speakers:
        details = p.Speakers(
            count=len(speakers),
            details=[
                p.SpeakerDetail(id=k, speaking_time=v, segments=[p.SpeakerSegment(start=start, end=end)])
                for k, v in speakers.items()
            ],
        )
    return p.FinalResult(
        session_id="s1",
        utterance_id=seq,
        seq=seq,
        data=p.FinalData(
            text=text,
            confidence=0.9,
            audio=p.AudioSpan(start=start, end=end, duration=round(end - start, 3)),
            timestamp=T0 + timedelta(seconds=start),
            speakers=details,
            words=words,
        ),
    )


FINALS = [
    final(1, "Hello there.", 0.5, 1.75, speakers={"speaker_1": 1.2}),
    final(2, "Two people talk here.", 2.0, 4.0, speakers={"speaker_1": 0.5, "speaker_2": 1.5}),
    final(3, "No speaker known.", 4.5, 5.25),
    # overlaps the previous final (a clock hiccup): its cue must not go back in time
    final(4, "Words <b> & --> arrows.", 5.0, 6.0, word_speakers=["speaker_2", "speaker_2", "speaker_1", "speaker_2"]),
    final(5, "Over an hour in.", 3723.5, 3725.25, speakers={"speaker_1": 1.0}),
]


def record(finals: int = len(FINALS)) -> SessionRecord:
    return SessionRecord(
        session_id="s1",
        client_id="client-a",
        status="ended",
        end_reason="stopped",
        options={"language": "en"},
        audio_start=T0,
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        last_seen_at=T0 + timedelta(hours=1),
        audio_duration=3726.0,
        finals=finals,
        last_seq=finals,
        last_audio_end=3725.25,
    )


def test_speaker_is_who_spoke_most_else_the_words_majority() -> None:
    assert [speaker_of(f) for f in FINALS] == ["speaker_1", "speaker_2", None, "speaker_2", "speaker_1"]


def test_srt_parses_with_numbered_monotonic_cues_and_speakers() -> None:
    parsed = parse_srt(to_srt(list(reversed(FINALS))))  # in seq order, whatever order they come in
    assert_monotonic(parsed)
    assert [c.speaker for c in parsed] == ["speaker_1", "speaker_2", None, "speaker_2", "speaker_1"]
    assert parsed[0].text == "Hello there." and (parsed[0].start, parsed[0].end) == (0.5, 1.75)
    assert parsed[3].start == 5.25  # clamped to the end of the cue before
    assert parsed[3].text == "Words <b> & -> arrows."  # "-->" would end a cue's text
    assert (parsed[4].start, parsed[4].end) == (3723.5, 3725.25)
    assert "01:02:03,500 --> 01:02:05,250" in to_srt(FINALS)


def test_vtt_parses_with_voice_tags_and_escaped_text() -> None:
    text = to_vtt(FINALS)
    assert text.startswith("WEBVTT\n\n")
    assert "<v speaker_2>Words &lt;b&gt; &amp; -&gt; arrows." in text
    parsed = parse_vtt(text)
    assert_monotonic(parsed)
    assert [c.speaker for c in parsed] == ["speaker_1", "speaker_2", None, "speaker_2", "speaker_1"]
    assert [c.text for c in parsed] == [c.text for c in parse_srt(to_srt(FINALS))]
    assert "01:02:03.500 --> 01:02:05.250" in text


def test_txt_is_one_line_a_final_with_speaker_prefixes() -> None:
    assert to_txt(FINALS).splitlines() == [
        "[speaker_1] Hello there.",
        "[speaker_2] Two people talk here.",
        "No speaker known.",
        "[speaker_2] Words <b> & -> arrows.",
        "[speaker_1] Over an hour in.",
    ]


def test_json_keeps_every_field_of_every_final() -> None:
    body = json.loads(render("json", record(), FINALS))
    assert body["session"]["session_id"] == "s1" and body["session"]["status"] == "ended"
    assert body["session"]["options"] == {"language": "en"}
    assert [f["seq"] for f in body["finals"]] == [1, 2, 3, 4, 5]
    for got, sent in zip(body["finals"], FINALS, strict=True):
        assert {k: got[k] for k in sent.data.model_dump(mode="json")} == sent.data.model_dump(mode="json")
        assert got["speaker"] == speaker_of(sent)


def test_a_final_without_length_still_gets_a_cue() -> None:
    (cue,) = cues([final(1, "Hm.", 2.0, 2.0)])
    assert (cue.start_ms, cue.end_ms) == (2000, 2001)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_finals(fmt: str) -> None:
    out = render(fmt, record(0), [])  # type: ignore[arg-type]
    assert {"json": out.startswith("{"), "txt": out == "", "srt": out == "", "vtt": out == "WEBVTT\n"}[fmt]
    assert fmt in MEDIA_TYPES
