"""The defects the fuzzing found, each through the real app as a client meets it. Their inputs are in
the corpus too (replayed by test_corpus.py); these tests say what each one did and must not do again."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import WebSocketTestSession

from app.audio.files import load_audio
from tests.fuzz.seeds import CORPUS, SEED_CLIP
from tests.integration.conftest import Stack, of_type, read_until_closed, send_audio, start, stop

pytestmark = pytest.mark.timeout(60)


def _float_wav_header(channels: int = 2) -> bytes:
    fmt = struct.pack("<HHIIHH", 3, channels, 16000, 16000 * channels * 4, channels * 4, 32)
    return b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data\xff\xff\xff\xff"


def test_speech_with_nan_float_samples_is_still_heard(stack: Stack, shared_data: Path) -> None:
    """A float WAV whose samples are now and then NaN or ~1e30 (a bit-flip away from speech): the
    utterance holding them was never detected (its final lost), numpy warned on every frame, and
    ~1e38 overflowed the channel mix. Now they are silence or full scale: every utterance gets its final."""
    first = load_audio(shared_data / "clips" / SEED_CLIP).copy()
    first[::997], first[500::1009] = np.nan, 1e30
    second = load_audio(shared_data / "clips" / "sb_spk2_snt1.wav")
    gap = np.zeros(24000, np.float32)
    mono = np.concatenate([gap[:8000], first, gap, second, gap])
    stream = _float_wav_header() + np.repeat(mono, 2).astype("<f4").tobytes()  # stereo
    with stack.control() as control:
        sid = start(control, options={"audio": {"encoding": "wav"}})["session_id"]
        with stack.audio(session_id=sid) as audio:
            for i in range(0, len(stream), 4096):
                audio.send_bytes(stream[i : i + 4096])
            messages, code = stop(control)
    finals = of_type(messages, "final_result")
    assert of_type(messages, "error") == [] and code == 1000
    assert len(finals) == 2 and finals[0]["data"]["audio"]["start"] < 1.0  # the first utterance is heard


def test_a_json_number_of_thousands_of_digits_is_an_invalid_message(stack: Stack) -> None:
    """json.loads raises a plain ValueError past 4300 digits: it escaped as internal_error (4500), on
    the first command and on a running session alike."""
    digits = "9" * 5000
    with stack.control() as control:
        control.send_text(f'{{"type": "start_stream", "last_seq": {digits}}}')
        error = control.receive_json()
        assert (error["code"], error["fatal"]) == ("invalid_message", False)
        sid = start(control)["session_id"]
        control.send_text(f'{{"type": "stop_stream", "audio_bytes": {digits}}}')
        assert control.receive_json()["code"] == "invalid_message"
        assert stop(control)[1] == 1000
    assert sid and stack.errors("internal_error") == 0


def test_audio_bytes_is_bounded_like_last_seq(stack: Stack) -> None:
    """A 4000-digit audio_bytes (within int()'s limit) was taken: the stop waited for it and sent an
    audio_missing warning quoting all 4000 digits."""
    with stack.control() as control:
        start(control)
        control.send_text((CORPUS / "messages" / "08-int-4000-digits-audio-bytes.txt").read_text())
        error = control.receive_json()
        assert error["code"] == "invalid_message" and "audio_bytes" in error["message"]
        assert len(error["message"]) < 300
        messages, code = stop(control)
    assert of_type(messages, "warning") == [] and code == 1000


def test_an_ogg_stream_naming_one_codec_without_end_gets_a_short_message(stack: Stack) -> None:
    """200 pages each starting an unknown codec's stream, then a data page: the message that refused it
    named the codec 200 times (one Ogg page of 28 bytes each: 18 characters of message per 28 bytes)."""
    data = (CORPUS / "audio" / "ogg" / "unknown-codec-repeated.bin").read_bytes()
    with stack.control() as control:
        sid = start(control, options={"audio": {"encoding": "ogg"}})["session_id"]
        with stack.audio(session_id=sid) as audio:
            audio.send_bytes(data)
            control.send_json({"type": "stop_stream", "audio_bytes": len(data)})
            messages, code = read_until_closed(control)
    errors = of_type(messages, "error")
    assert code == 1000 and [e["code"] for e in errors] == ["undecodable_audio"]
    assert errors[0]["message"].count("unknown codec") == 1


def test_assemblyai_update_with_a_huge_silence_keeps_the_session(stack: Stack, speech: Callable[..., bytes]) -> None:
    """UpdateConfiguration's max_turn_silence of 400 digits: dividing it by 1000 overflowed a float and
    the exception escaped the socket's read loop."""
    with stack.client.websocket_connect("/v3/ws?sample_rate=16000", headers={"Authorization": "key-a"}) as ws:
        assert ws.receive_json()["type"] == "Begin"
        ws.send_text(f'{{"type": "UpdateConfiguration", "max_turn_silence": {"9" * 400}}}')
        send_audio(ws, speech(SEED_CLIP))
        ws.send_text(json.dumps({"type": "Terminate"}))
        seen = _until_termination(ws)
    assert seen[-1]["type"] == "Termination"
    assert any(m["type"] == "Turn" and m["end_of_turn"] for m in seen)
    assert stack.errors("internal_error") == 0


def _until_termination(ws: WebSocketTestSession) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    for _ in range(500):
        if seen and seen[-1]["type"] == "Termination":
            break
        seen.append(ws.receive_json())
    return seen
