"""A stream over the wire: control + attached audio socket, a standalone audio socket, pause and finalize."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.integration.conftest import (
    Stack,
    of_type,
    read_until,
    send_audio,
    silence,
    start,
    stop,
)

pytestmark = pytest.mark.timeout(30)


def test_control_and_attached_audio_socket(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.control() as control:
        started = start(control)
        sid = started["session_id"]
        assert started["resumed"] is False
        assert started["protocol_version"] == "1.0"
        assert started["audio"] == {"sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, speech("sb_spk1_snt1.wav"))
            messages = read_until(control, "final_result")
            assert {m["session_id"] for m in messages} == {sid}
            types = [m["type"] for m in messages]
            assert types[0] == "speech_started"
            assert "partial_result" in types
            assert types.index("partial_result") < types.index("utterance_end") < types.index("final_result")
            (end,) = of_type(messages, "utterance_end")
            assert end["reason"] == "silence"
            final = messages[-1]
            assert final["seq"] == 1 and final["utterance_id"] == 1
            assert final["data"]["is_final"] is True
            assert final["data"]["text"].startswith("Alpha bravo") and final["data"]["text"].endswith(".")
            assert all(p["data"]["is_final"] is False for p in of_type(messages, "partial_result"))

            after, code = stop(control)
            assert [m["type"] for m in after] == ["session_ended"]
            assert after[0]["reason"] == "stopped" and after[0]["finals"] == 1
            assert after[0]["audio_duration"] == pytest.approx(len(speech("sb_spk1_snt1.wav")) / 32000, abs=0.1)
            assert code == 1000

            # the attached socket got nothing: its first message is the answer to this late frame,
            # which also closes it normally
            audio.send_bytes(silence(0.1))
            probe = audio.receive_json()
            assert probe["type"] == "error" and probe["code"] == "stream_ended" and probe["fatal"] is True
            with pytest.raises(WebSocketDisconnect) as closed:
                audio.receive_json()
            assert closed.value.code == 1000


def test_standalone_audio_socket_carries_commands_and_results(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.audio() as audio:
        sid = start(audio)["session_id"]
        send_audio(audio, speech("sb_spk2_snt1.wav", "sb_spk2_snt2.wav"))
        first = read_until(audio, "final_result")
        assert first[-1]["seq"] == 1
        second = read_until(audio, "final_result")
        assert second[-1]["seq"] == 2 and second[-1]["utterance_id"] == 2
        assert "partial_result" in [m["type"] for m in first + second]

        after, code = stop(audio)
        assert code == 1000
        assert after[-1]["type"] == "session_ended" and after[-1]["reason"] == "stopped"
        assert after[-1]["finals"] == 2
        assert of_type(after, "final_result") == []
        assert {m["session_id"] for m in first + second + after} == {sid}


def test_stop_flushes_the_utterance_in_progress(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.audio() as audio:
        start(audio)
        send_audio(audio, speech("sb_spk1_snt5.wav", gap_s=0.0))
        after, code = stop(audio)
        assert code == 1000
        (end,) = of_type(after, "utterance_end")
        assert end["reason"] == "stop"
        assert [f["seq"] for f in of_type(after, "final_result")] == [1]
        assert after[-1]["type"] == "session_ended" and after[-1]["finals"] == 1


def test_audio_sent_while_paused_gives_no_result(stack: Stack, speech: Callable[..., bytes]) -> None:
    # one standalone socket: its commands and audio are applied in the order they were sent
    with stack.audio() as audio:
        start(audio)
        audio.send_json({"type": "pause_stream"})
        send_audio(audio, speech("sb_spk1_snt1.wav"))
        audio.send_json({"type": "resume_stream"})
        send_audio(audio, silence(1.0))
        after, code = stop(audio)
        assert code == 1000
        assert [m["type"] for m in after] == ["session_ended"]
        assert after[0]["finals"] == 0
        # stream time counts the paused audio
        assert after[0]["audio_duration"] == pytest.approx(len(speech("sb_spk1_snt1.wav")) / 32000 + 1.0, abs=0.1)


def test_pause_ends_the_utterance_and_resume_hears_again(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.audio() as audio:
        start(audio)
        send_audio(audio, speech("LDC93S1.wav", gap_s=0.0)[: 2 * 32000])  # 0.5 s silence, 1.5 s of speech
        audio.send_json({"type": "pause_stream"})
        paused = read_until(audio, "final_result")
        (end,) = of_type(paused, "utterance_end")
        assert end["reason"] == "pause"
        send_audio(audio, speech("sb_spk2_snt3.wav"))  # discarded
        audio.send_json({"type": "resume_stream"})
        send_audio(audio, speech("sb_spk2_snt4.wav"))
        resumed = read_until(audio, "final_result")
        assert resumed[-1]["seq"] == 2
        assert of_type(resumed, "utterance_end")[0]["reason"] == "silence"
        after, _ = stop(audio)
        assert after[-1]["finals"] == 2


def test_finalize_forces_the_end_of_an_utterance(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.audio() as audio:
        start(audio)
        clip = speech("sb_spk1_snt2.wav")
        send_audio(audio, clip[: 2 * 32000])  # mid-sentence
        audio.send_json({"type": "finalize"})
        forced = read_until(audio, "final_result")
        (end,) = of_type(forced, "utterance_end")
        assert end["reason"] == "finalize" and end["utterance_id"] == 1
        assert forced[-1]["seq"] == 1 and forced[-1]["utterance_id"] == 1
        send_audio(audio, clip[2 * 32000 :])
        rest = read_until(audio, "final_result")
        assert rest[-1]["seq"] == 2 and rest[-1]["utterance_id"] == 2
        after, code = stop(audio)
        assert code == 1000 and after[-1]["finals"] == 2
