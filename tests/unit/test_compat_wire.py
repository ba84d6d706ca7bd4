"""The compatible APIs' pure parts: parameter parsing, the option table, and the message shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import protocol as p
from app.compat import assemblyai_wire as aai
from app.compat import deepgram_wire as dg
from app.compat.common import Query, json_list, scheme_credential, sniff_container
from app.compat.deepgram import credential
from app.compat.options import PENDING, Wanted, language, not_applied, session_options
from app.compat.text import plain_word, punctuated, speaker_index
from app.config import SessionOptions
from app.errors import ConfigError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def query(**params: str | list[str]) -> Query:
    single = {k: v if isinstance(v, str) else v[0] for k, v in params.items()}
    lists = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    return Query(single, lists)


def words(*spec: tuple[str, float, float, str | None]) -> list[p.Word]:
    return [p.Word(word=w, start=s, end=e, confidence=0.9, speaker=spk, stable=True) for w, s, e, spk in spec]


def final(text: str, ws: list[p.Word], seq: int = 1) -> p.FinalResult:
    start, end = ws[0].start - 0.1, ws[-1].end + 0.1
    return p.FinalResult(
        session_id="s1",
        utterance_id=seq,
        seq=seq,
        data=p.FinalData(
            text=text,
            confidence=0.9,
            audio=p.AudioSpan(start=start, end=end, duration=round(end - start, 3)),
            timestamp=NOW,
            words=ws,
        ),
    )


# --------------------------------------------------------------------------- options


def test_session_options_maps_the_table() -> None:
    wanted = Wanted(
        encoding="pcm_mulaw",
        sample_rate=8000,
        language="en-US",
        prompt="rtstt",
        interim_results=False,
        end_silence_s=0.05,
        diarize=True,
        profanity_filter=True,
    )
    options = session_options(SessionOptions(), wanted)
    assert (options.audio.encoding, options.audio.sample_rate, options.language) == ("pcm_mulaw", 8000, "en")
    assert options.initial_prompt == "rtstt" and options.features.interim_results is False
    assert options.vad.post_speech_silence == 0.1 and options.vad.split_pause == 0.1  # clamped together
    assert options.features.speaker_diarization and options.features.profanity_filter.enabled


def test_pending_options_are_reported_not_applied() -> None:
    wanted = Wanted(keyterms=["Ray Serve"], numerals=True, translate=True)
    missing = not_applied(wanted)
    assert missing == [
        name
        for name, key in (("keyterms", "keyterms"), ("numerals", "formatting.numerals"), ("translate", "task"))
        if not PENDING[key]
    ]
    session_options(SessionOptions(), wanted)  # never an error: the server just lacks them


def test_language_tags() -> None:
    assert language("en-GB") == "en" and language("PT_br") == "pt"
    with pytest.raises(ConfigError):
        language("english please")
    assert language("multi") == language("auto") == "auto"  # the main model detects it


# --------------------------------------------------------------------------- common


def test_query_reads_and_refuses() -> None:
    q = query(a="true", b="False", n="300", x="maybe", f="1.5", k=["one", "two"])
    assert q.flag("a") is True and q.flag("b") is False and q.flag("missing") is None
    assert q.integer("n", 0, 1000) == 300 and q.many("k") == ["one", "two"]
    for bad in (lambda: q.flag("x"), lambda: q.integer("n", 0, 100), lambda: q.integer("f", 0, 10)):
        with pytest.raises(ConfigError):
            bad()
    assert json_list("kp", '["a", "b"]') == ["a", "b"]
    with pytest.raises(ConfigError):
        json_list("kp", '{"a": 1}')


def test_credentials_in_vendor_forms() -> None:
    assert scheme_credential("Token abc", ("token", "bearer")) == "abc"
    assert scheme_credential("bearer  x.y.z ", ("token", "bearer")) == "x.y.z"
    assert scheme_credential("Basic abc", ("token", "bearer")) is None
    assert credential({}, ["token", "key-a"]) == ("key-a", "token")
    assert credential({"authorization": "Token k"}, []) == ("k", None)
    assert credential({}, ["token"]) == (None, None)


def test_sniff_container() -> None:
    assert sniff_container(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert sniff_container(b"OggS\x00\x02") == "ogg"
    assert sniff_container(b"ID3\x04") == "mp3" and sniff_container(b"\xff\xfb\x90") == "mp3"
    assert sniff_container(b"\x00\x01\x02\x03") is None


def test_text_helpers() -> None:
    assert plain_word("Americans,") == "americans" and plain_word("F******,") == "f******"
    assert plain_word("don't") == "don't" and plain_word("'quoted'") == "quoted"
    assert speaker_index("speaker_2") == 1 and speaker_index(None) is None and speaker_index("x") is None
    assert punctuated(["and", "so"], "And so.") == ["And", "so."] and punctuated(["a"], "A b") == ["a"]


# --------------------------------------------------------------------------- Deepgram


def test_deepgram_parse() -> None:
    listen, wanted = dg.parse(
        query(
            encoding="mulaw",
            sample_rate="8000",
            smart_format="true",
            endpointing="300",
            utterance_end_ms="1000",
            keyterm=["Ray"],
            keywords=["Serve:2"],
            diarize_model="latest",
            model="nova-3",
        ),
        live=True,
    )
    assert listen.punctuate and listen.utterance_end and listen.diarize and listen.model == "nova-3"
    assert (wanted.encoding, wanted.sample_rate, wanted.end_silence_s) == ("pcm_mulaw", 8000, 0.3)
    assert wanted.keyterms == ["Ray", "Serve"] and wanted.numerals is True
    listen, wanted = dg.parse(query(endpointing="false", utterance_end_ms="1200"), live=True)
    assert not listen.endpointing and wanted.end_silence_s == 1.2 and wanted.encoding is None
    for bad in ({"encoding": "flac"}, {"encoding": "linear16"}, {"redact": "pci"}, {"multichannel": "true"}):
        with pytest.raises(ConfigError):
            dg.parse(query(**bad), live=True)


def test_deepgram_results_shapes() -> None:
    ws = words(("And", 1.0, 1.2, "speaker_1"), ("so,", 1.3, 1.5, "speaker_1"))
    listen = dg.Listen(model="nova-3", punctuate=False, diarize=True)
    body = dg.results(final("And so,", ws), listen, dg.Model("nova-3", "tiny.en"), speech_final=True)
    assert body["is_final"] and body["speech_final"] and not body["from_finalize"]
    alternative = body["channel"]["alternatives"][0]
    assert alternative["transcript"] == "and so"
    assert alternative["words"][1] == {"word": "so", "start": 1.3, "end": 1.5, "confidence": 0.9, "speaker": 0}
    assert body["start"] == 0.9 and body["duration"] == 0.7
    partial = p.PartialResult(
        session_id="s1",
        utterance_id=1,
        data=p.PartialData(text="And", confidence=0.5, timestamp=NOW, audio_start=0.9, audio_current=1.4, words=ws[:1]),
    )
    assert dg.results(partial, listen, dg.Model("x", "y"))["duration"] == 0.5


def test_deepgram_prerecorded_splits_utterances_at_speaker_changes() -> None:
    ws = words(("Yes.", 0.0, 0.4, "speaker_1"), ("No", 0.5, 0.9, "speaker_2"), ("way.", 1.0, 1.3, "speaker_2"))
    body = dg.prerecorded(
        "r1",
        [final("Yes. No way.", ws)],
        sha256="0" * 64,
        created=NOW,
        duration=2.0,
        listen=dg.Listen(model="nova-3", punctuate=True, diarize=True, utterances=True),
        model=dg.Model("a", "b"),
    )
    utterances = body["results"]["utterances"]
    assert [(u["speaker"], u["transcript"]) for u in utterances] == [(0, "Yes."), (1, "No way.")]
    assert body["metadata"]["created"] == "2026-01-01T00:00:00.000000Z" and "type" not in body["metadata"]
    assert [w["punctuated_word"] for w in body["results"]["channels"][0]["alternatives"][0]["words"]] == [
        "Yes.",
        "No",
        "way.",
    ]


# --------------------------------------------------------------------------- AssemblyAI


def test_assemblyai_parse() -> None:
    streaming, wanted = aai.parse(
        query(
            sample_rate="16000",
            format_turns="True",
            max_turn_silence="900",
            keyterms_prompt='["Ray"]',
            speaker_labels="true",
            inactivity_timeout="30",
            end_of_turn_confidence_threshold="0.7",
        )
    )
    assert streaming.format_turns and streaming.speaker_labels and streaming.inactivity_timeout_s == 30
    assert wanted.end_silence_s == 0.9 and wanted.keyterms == ["Ray"] and wanted.diarize
    assert aai.update({"max_turn_silence": 20000})["vad"]["post_speech_silence"] == 5.0
    for bad in (
        {"sample_rate": "16000", "encoding": "aac"},
        {"encoding": "pcm_s16le"},
        {"sample_rate": "16000", "inactivity_timeout": "1"},
    ):
        with pytest.raises(ConfigError):
            aai.parse(query(**bad))


def test_assemblyai_turns() -> None:
    ws = words(("The", 0.5, 0.7, "speaker_2"), ("child.", 0.8, 1.1, "speaker_2"))
    streaming = aai.Streaming(format_turns=True, speaker_labels=True)
    raw = aai.turn(final("The child.", ws), 3, streaming)
    pretty = aai.turn(final("The child.", ws), 3, streaming, formatted=True)
    assert raw["transcript"] == "the child" and pretty["transcript"] == "The child."
    assert raw["end_of_turn"] and not raw["turn_is_formatted"] and pretty["turn_is_formatted"]
    assert pretty["words"][0] == {
        "start": 500,
        "end": 700,
        "confidence": 0.9,
        "text": "The",
        "word_is_final": True,
        "speaker": "B",
    }
    assert pretty["speaker_label"] == "B" and raw["turn_order"] == 3
