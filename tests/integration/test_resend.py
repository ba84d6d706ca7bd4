"""A resume that re-sends the audio the client kept (``audio_offset_bytes``): every utterance gets
exactly one final at its right stream time, whether the session's host lived on (a socket or an
ingress replica went away) or was replaced by one that takes the session over from the store (a crash).

Each test streams three utterances and compares the finals with those of the same audio streamed
without a fault: same count, same seq, same stream times."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession

from app.config import StoreSettings
from tests.integration.conftest import (
    Message,
    Stack,
    of_type,
    read_until,
    read_until_closed,
    send_audio,
    silence,
    start,
)

pytestmark = pytest.mark.timeout(60)

A = {"Authorization": "Bearer key-a"}
BYTES_PER_S = 32000  # 16 kHz PCM16 mono


def at(seconds: float) -> int:
    """The byte offset of a stream time (whole samples), as the Python client computes it."""
    return int(seconds * 16000 + 1e-6) * 2


def spans(finals: list[Message]) -> list[tuple[int, float, float]]:
    """Seq and stream times of finals as sent (``data.audio``) or as stored (``audio``)."""
    return [(f["seq"], f.get("data", f)["audio"]["start"], f.get("data", f)["audio"]["end"]) for f in finals]


def same_spans(finals: list[Message], reference: list[Message]) -> bool:
    """The same seqs at the same stream times, within 0.05 s: a new host's VAD starts afresh where the
    last final ended, so its frames (30 ms) fall a little differently."""
    got, want = spans(finals), spans(reference)
    return len(got) == len(want) and all(
        g[0] == w[0] and abs(g[1] - w[1]) <= 0.05 and abs(g[2] - w[2]) <= 0.05 for g, w in zip(got, want, strict=True)
    )


def finish(control: WebSocketTestSession, audio_bytes: int) -> tuple[list[Message], int]:
    control.send_json({"type": "stop_stream", "audio_bytes": audio_bytes})
    return read_until_closed(control)


@pytest.fixture
def pcm(speech: Callable[..., bytes]) -> bytes:
    return speech("sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "sb_spk1_snt3.wav")


@pytest.fixture
def reference(stack: Stack, pcm: bytes) -> list[Message]:
    """The finals of the audio streamed without a fault."""
    with stack.control() as control:
        sid = start(control)["session_id"]
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, pcm)
            messages, code = finish(control, len(pcm))
    assert code == 1000
    finals = of_type(messages, "final_result")
    assert [f["seq"] for f in finals] == [1, 2, 3]
    return finals


def in_second(reference: list[Message]) -> int:
    """Where to cut the stream: 0.6 s into the second utterance, so that it is in progress (no final
    can have been made of it) when the connection goes."""
    return at(reference[1]["data"]["audio"]["start"] + 0.6)


@pytest.mark.parametrize("lost_in_flight", [0, 9600], ids=["none-lost", "0.3s-lost"])
def test_live_host_takes_the_resent_audio_it_lacks(
    stack: Stack, pcm: bytes, reference: list[Message], lost_in_flight: int
) -> None:
    cut = in_second(reference)
    with contextlib.ExitStack() as sockets:
        control = sockets.enter_context(stack.control())
        sid = start(control)["session_id"]
        audio = sockets.enter_context(stack.audio(session_id=sid))
        send_audio(audio, pcm[: cut - lost_in_flight])  # the last frames never reach the server
        first = read_until(control, "final_result")[-1]
        assert first["seq"] == 1
    # both sockets went (an ingress replica died); the client kept everything after final 1's end
    kept_from = at(first["data"]["audio"]["end"])
    with stack.control(session_id=sid) as control:
        resumed = start(control, last_seq=1, audio_offset_bytes=kept_from)
        assert resumed["resumed"] is True
        assert resumed["audio_offset_bytes"] == cut - lost_in_flight  # what the session has
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, pcm[resumed["audio_offset_bytes"] :])
            messages, code = finish(control, len(pcm))
    finals = of_type(messages, "final_result")
    assert code == 1000 and messages[-1]["type"] == "session_ended" and messages[-1]["finals"] == 3
    assert spans(finals) == spans(reference[1:])  # each utterance once, at the same stream time


def test_a_refused_misaligned_frame_is_not_asked_for_again(stack: Stack, pcm: bytes, reference: list[Message]) -> None:
    """A frame of an odd byte count is refused, but the client kept it like any other: the resume asks
    for what came after it, and nothing is refused twice (the soak's reconnects found it was)."""
    cut = in_second(reference)
    half = at(reference[0]["data"]["audio"]["end"] + 0.2)
    sent = pcm[:half] + bytes(3201) + pcm[half:cut]  # what the client sent, and keeps
    with contextlib.ExitStack() as sockets:
        control = sockets.enter_context(stack.control())
        sid = start(control)["session_id"]
        audio = sockets.enter_context(stack.audio(session_id=sid))
        send_audio(audio, sent[:half])
        audio.send_bytes(sent[half : half + 3201])  # a frame of its own
        send_audio(audio, sent[half + 3201 :])
        before = read_until(control, "final_result")
    with stack.control(session_id=sid) as control:
        resumed = start(control, last_seq=1, audio_offset_bytes=0)
        assert resumed["audio_offset_bytes"] == len(sent)  # odd: the refused frame counts as received
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, sent[resumed["audio_offset_bytes"] :] + pcm[cut:])
            messages, code = finish(control, len(sent) + len(pcm) - cut)
    errors = [m["code"] for m in before + messages if m["type"] == "error"]
    assert errors == ["misaligned_audio"]
    finals = of_type(messages, "final_result")
    assert code == 1000 and messages[-1]["finals"] == 3
    assert spans(finals) == spans(reference[1:])


def test_a_crashed_host_costs_no_utterance(
    serve: Callable[..., Stack], tmp_path: Path, pcm: bytes, reference: list[Message]
) -> None:
    settings = StoreSettings(data_dir=str(tmp_path))
    before = serve(store=settings)
    cut = in_second(reference)
    with contextlib.ExitStack() as sockets:
        control = sockets.enter_context(before.control())
        sid = start(control)["session_id"]
        audio = sockets.enter_context(before.audio(session_id=sid))
        send_audio(audio, pcm[:cut])
        first = read_until(control, "final_result")[-1]
    before.crash()  # the second utterance was heard, never finalised: only the client has it now

    after = serve(store=settings)  # a new host on the same store
    kept_from = at(first["data"]["audio"]["end"])
    with after.control(session_id=sid) as control:
        resumed = start(control, last_seq=1, audio_offset_bytes=kept_from)
        assert resumed["resumed"] is True and resumed["audio_offset_bytes"] == kept_from
        with after.audio(session_id=sid) as audio:
            send_audio(audio, pcm[kept_from:])
            messages, code = finish(control, len(pcm))
    finals = of_type(messages, "final_result")
    assert code == 1000 and messages[-1]["finals"] == 3
    assert same_spans(finals, reference[1:]), (spans(finals), spans(reference))
    stored = after.client.get(f"/v1/sessions/{sid}/transcript", headers=A).json()["finals"]
    assert [f["seq"] for f in stored] == [1, 2, 3]
    assert same_spans(stored, reference), (spans(stored), spans(reference))


def test_a_final_the_client_missed_is_replayed_and_its_audio_not_heard_twice(
    serve: Callable[..., Stack], tmp_path: Path, pcm: bytes, reference: list[Message]
) -> None:
    """The store has a final the client never got (the crash came between store and send): it is
    replayed, and the re-sent audio it covers is dropped."""
    settings = StoreSettings(data_dir=str(tmp_path))
    before = serve(store=settings)
    cut = at(reference[1]["data"]["audio"]["end"]) + at(1.0)  # past the second utterance's end
    with contextlib.ExitStack() as sockets:
        control = sockets.enter_context(before.control())
        sid = start(control)["session_id"]
        audio = sockets.enter_context(before.audio(session_id=sid))
        send_audio(audio, pcm[:cut])
        read_until(control, "final_result")
        second = read_until(control, "final_result")[-1]  # stored before it was sent
        assert second["seq"] == 2
    before.crash()

    after = serve(store=settings)
    kept_from = at(reference[0]["data"]["audio"]["end"])  # the client had processed only final 1
    with after.control(session_id=sid) as control:
        resumed = start(control, last_seq=1, audio_offset_bytes=kept_from)
        # the audio final 2 covers is not asked for again
        assert resumed["audio_offset_bytes"] == at(second["data"]["audio"]["end"])
        assert control.receive_json() == second
        with after.audio(session_id=sid) as audio:
            send_audio(audio, pcm[resumed["audio_offset_bytes"] :])
            messages, code = finish(control, len(pcm))
    assert code == 1000
    finals = of_type(messages, "final_result")
    assert same_spans(finals, reference[2:]), (spans(finals), spans(reference))


def test_audio_the_client_no_longer_kept_is_a_gap_in_stream_time(
    serve: Callable[..., Stack], tmp_path: Path, pcm: bytes, reference: list[Message]
) -> None:
    """The client kept less than the session lost (its buffer overflowed): the bytes between are lost,
    and stream time counts them, so the third utterance keeps its time."""
    settings = StoreSettings(data_dir=str(tmp_path))
    before = serve(store=settings)
    cut = at(reference[1]["data"]["audio"]["start"]) - at(0.5)  # in the pause before the second
    with contextlib.ExitStack() as sockets:
        control = sockets.enter_context(before.control())
        sid = start(control)["session_id"]
        audio = sockets.enter_context(before.audio(session_id=sid))
        send_audio(audio, pcm[:cut])
        read_until(control, "final_result")
    before.crash()

    after = serve(store=settings)
    kept_from = at(reference[1]["data"]["audio"]["end"]) + at(0.2)  # the second utterance is lost
    with after.control(session_id=sid) as control:
        resumed = start(control, last_seq=1, audio_offset_bytes=kept_from)
        assert resumed["audio_offset_bytes"] == kept_from
        with after.audio(session_id=sid) as audio:
            send_audio(audio, pcm[kept_from:])
            messages, code = finish(control, len(pcm))
    finals = of_type(messages, "final_result")
    assert code == 1000 and [f["seq"] for f in finals] == [2]
    (third,) = spans(reference[2:])
    assert finals[0]["data"]["audio"]["start"] == pytest.approx(third[1], abs=0.05)
    assert finals[0]["data"]["audio"]["end"] == pytest.approx(third[2], abs=0.05)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"audio_offset_bytes": 3}, "whole number"),
        ({"options": {"audio": {"encoding": "wav"}}, "audio_offset_bytes": 0}, "raw encoding"),
    ],
)
def test_audio_offsets_that_cannot_be_resent(stack: Stack, fields: dict[str, Any], why: str) -> None:
    with stack.audio() as audio:
        options = fields.get("options", {})
        sid = start(audio, options=options)["session_id"]
    with stack.control(session_id=sid) as control:
        control.send_json({"type": "start_stream", "last_seq": 0, "audio_offset_bytes": fields["audio_offset_bytes"]})
        error = control.receive_json()
    assert error["type"] == "error" and error["code"] == "invalid_message" and why in error["message"]


def test_a_new_session_has_no_audio_offset(stack: Stack) -> None:
    with stack.control() as control:
        control.send_json({"type": "start_stream", "audio_offset_bytes": 0})
        error = control.receive_json()
    assert error["code"] == "invalid_message" and "resume" in error["message"]


def test_a_resumed_session_may_resend_faster_than_the_pace_limit(
    serve: Callable[..., Stack], speech: Callable[..., bytes]
) -> None:
    """``limits.resume_burst_s``: the kept audio goes again at once without ``audio_too_fast``."""
    stack = serve(max_realtime_factor=1.0, realtime_burst_s=2.0)
    pcm = speech("sb_spk1_snt1.wav")
    with stack.control() as control:
        sid = start(control)["session_id"]
    with stack.control(session_id=sid) as control:
        resumed = start(control, last_seq=0, audio_offset_bytes=0)
        assert resumed["audio_offset_bytes"] == 0
        with stack.audio(session_id=sid) as audio:
            send_audio(audio, pcm + silence(1.0))  # ~6 s at once: 3x the burst allowed
            messages, _ = finish(control, len(pcm) + BYTES_PER_S)
    assert of_type(messages, "error") == [] and len(of_type(messages, "final_result")) == 1
