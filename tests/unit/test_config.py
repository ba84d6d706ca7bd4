from __future__ import annotations

import pytest

from app.config import ModelSettings, ServerSettings
from app.errors import ConfigError
from app.options import SessionOptions, parse_session_options


def test_defaults_are_valid() -> None:
    opts = SessionOptions()
    assert opts.audio.sample_rate == 16000
    assert opts.vad.webrtc.sensitivity == 3
    assert 0 < opts.vad.post_speech_silence < 5
    assert ServerSettings().realtime_model.model == "tiny.en"


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"audio": {"sample_rate": 96000}}, "sample_rate 96000 is not supported; use 8000 to 48000 Hz"),
        ({"audio": {"encoding": "flac"}}, "'flac'"),
        ({"vad": {"silero": {"sensitivity": 1.5}}}, "1.5"),
        ({"vad": {"webrtc": {"sensitivity": 4}}}, "less than or equal to 3"),
        ({"vad": {"post_speech_silence": 0.2, "split_pause": 0.5}}, "split_pause 0.5 must not exceed"),
        ({"features": {"sentiment_analysis": {"granularity": "word"}}}, "'word'"),
        ({"bogus": True}, "options.bogus: unknown field"),
    ],
)
def test_validation_messages_quote_value_and_range(patch: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_session_options(patch)
    assert fragment in info.value.message
    assert info.value.code == "invalid_message"  # the code of every bad option (README)


def test_merge_patch_keeps_other_fields() -> None:
    opts = SessionOptions().merged({"vad": {"post_speech_silence": 1.0}})
    assert opts.vad.post_speech_silence == 1.0
    assert opts.vad.webrtc.sensitivity == 3
    with pytest.raises(ConfigError):
        opts.merged({"vad": {"post_speech_silence": -1}})


def test_model_settings_reject_zero_batch_wait() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        ModelSettings(batch_wait_timeout_s=0)
