"""The language, task, key-term and numeral options: validation and the wire fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import protocol as p
from app.config import ServerSettings
from app.errors import ConfigError, InvalidMessage
from app.languages import MAX_KEYTERM_CHARS, MAX_KEYTERMS, WHISPER_LANGUAGES, hotwords, is_language
from app.options import SessionOptions, parse_session_options


def test_defaults_keep_english_transcription_without_key_terms() -> None:
    opts = SessionOptions()
    assert (opts.language, opts.language_detection, opts.task, opts.keyterms) == ("en", "per_session", "transcribe", [])
    assert opts.formatting.numerals is False
    settings = ServerSettings()
    assert (settings.realtime_model.model, settings.main_model.model) == ("tiny.en", "base")
    assert settings.main_model.beam_size == 5 and settings.main_model.window_fill == "silence"


@pytest.mark.parametrize("code", ["auto", "en", "de", "zh", "haw", "yue", "DE", " ja "])
def test_known_codes_and_auto_are_accepted(code: str) -> None:
    assert parse_session_options({"language": code}).language == code.strip().lower()


@pytest.mark.parametrize("code", ["xx", "english", "e", "", "en-US", "klingon"])
def test_an_unknown_code_is_refused_quoting_it(code: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_session_options({"language": code})
    assert f"language {code!r} is not a language the models know" in info.value.message
    assert "'auto'" in info.value.message


def test_a_huge_code_is_quoted_only_in_part() -> None:
    with pytest.raises(InvalidMessage) as info:
        p.parse_client_message({"type": "start_stream", "options": {"language": "q" * 100_000}})
    assert info.value.code == "invalid_message"
    assert "'qqqqqqqqqqqqqqqq' is not a language" in info.value.message


def test_language_codes_match_whispers() -> None:
    assert len(WHISPER_LANGUAGES) == len(set(WHISPER_LANGUAGES)) == 100
    assert is_language("de") and not is_language("auto") and not is_language("xx")


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"task": "summarise"}, "'transcribe' or 'translate'"),
        ({"language_detection": "sometimes"}, "'per_session' or 'per_utterance'"),
        ({"keyterms": ["x"] * (MAX_KEYTERMS + 1)}, f"at most {MAX_KEYTERMS} items"),
        ({"keyterms": ["x" * (MAX_KEYTERM_CHARS + 1)]}, f"at most {MAX_KEYTERM_CHARS} characters"),
        ({"keyterms": ["   "]}, "a key term must not be blank"),
        ({"keyterms": ["a" * 40] * 15}, "key terms hold 600 characters in all; at most 500"),
        ({"keyterms": "ComfyUI"}, "valid list"),
        ({"formatting": {"numerals": "yes please"}}, "valid boolean"),
    ],
)
def test_bad_new_options_are_refused_with_the_rule(patch: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_session_options(patch)
    assert fragment in info.value.message


def test_keyterms_are_tidied_and_joined_for_the_decoder() -> None:
    opts = parse_session_options({"keyterms": ["  ComfyUI ", "Kubernetes  operator", "ComfyUI"]})
    assert opts.keyterms == ["ComfyUI", "Kubernetes operator"]
    assert hotwords(opts.keyterms) == "ComfyUI, Kubernetes operator"
    assert hotwords([]) is None


def test_configure_can_change_language_task_and_keyterms() -> None:
    opts = SessionOptions().merged({"language": "auto", "task": "translate", "keyterms": ["Ray Serve"]})
    assert (opts.language, opts.task, opts.keyterms) == ("auto", "translate", ["Ray Serve"])
    with pytest.raises(ConfigError, match="'xx'"):
        opts.merged({"language": "xx"})


def test_session_started_echoes_the_setting_and_results_carry_the_language() -> None:
    opts = SessionOptions(language="auto", language_detection="per_utterance", task="translate")
    started = p.SessionStarted(
        session_id="s", audio=p.AudioFormat(sample_rate=16000, encoding="pcm_s16le", channels=1), options=opts
    )
    echoed = p.parse_server_message(started.model_dump_json())
    assert isinstance(echoed, p.SessionStarted)
    assert (echoed.options.language, echoed.options.language_detection, echoed.options.task) == (
        "auto",
        "per_utterance",
        "translate",
    )
    final = p.FinalResult(
        session_id="s",
        utterance_id=1,
        seq=1,
        data=p.FinalData(
            text="Hello.",
            confidence=0.9,
            audio=p.AudioSpan(start=0, end=1, duration=1),
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            language="de",
            language_probability=0.98,
        ),
    )
    wire = p.parse_server_message(final.model_dump_json())
    assert isinstance(wire, p.FinalResult) and (wire.data.language, wire.data.language_probability) == ("de", 0.98)
    assert p.FinalData.model_fields["language"].default is None
    assert p.PartialData.model_fields["language_probability"].default is None
