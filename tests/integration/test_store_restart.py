"""The app stops in the middle of a stream and a new one starts on the same database: every final a
client received is in storage, and the client resumes with exactly the finals it missed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.config import StoreSettings
from tests.integration.conftest import (
    Message,
    Stack,
    read_until,
    read_until_closed,
    rejected,
    send_audio,
    start,
    stop,
)
from tests.subtitles import assert_monotonic, parse_srt

pytestmark = pytest.mark.timeout(60)

A = {"Authorization": "Bearer key-a"}


@pytest.fixture
def store_settings(database_url: str, tmp_path: Path) -> StoreSettings:
    return StoreSettings(database_url=database_url, data_dir=str(tmp_path))


def stream_then_stop_app(before: Stack, pcm: bytes, finals: int, how: str) -> tuple[str, list[Message]]:
    """Streams until ``finals`` finals arrived, then the app goes: ``crash`` (nothing flushed or
    recorded) or ``shutdown`` (a graceful stop: sessions end with reason shutdown)."""
    with before.control() as control:
        sid = start(control)["session_id"]
        with before.audio(session_id=sid) as audio:
            send_audio(audio, pcm)
            received = [read_until(control, "final_result")[-1] for _ in range(finals)]
            if how == "shutdown":
                before.call(before.host.shutdown)
                rest, code = read_until_closed(control)
                assert code == 1001 and rest[-1]["type"] == "session_ended" and rest[-1]["reason"] == "shutdown"
    if how == "crash":
        before.crash()
    else:
        before.close()
    return sid, received


@pytest.mark.parametrize("how", ["crash", "shutdown"])
def test_restart_mid_stream_then_resume(
    serve: Callable[..., Stack], store_settings: StoreSettings, speech: Callable[..., bytes], how: str
) -> None:
    first = speech("sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "sb_spk1_snt3.wav")
    sid, received = stream_then_stop_app(serve(store=store_settings), first, 3, how)
    assert [f["seq"] for f in received] == [1, 2, 3]

    after = serve(store=store_settings)  # a new process on the same database
    assert after.store is not None
    stored = after.call(after.store.finals, sid)
    assert [f.model_dump(mode="json") for f in stored] == received, "a final the client received is not stored"
    if how == "shutdown":
        assert after.client.get(f"/v1/sessions/{sid}", headers=A).json()["status"] == "interrupted"

    with after.control(session_id=sid) as control:
        # the client had processed only final 1 when the app went away
        resumed = start(control, last_seq=1)
        assert resumed["resumed"] is True and resumed["session_id"] == sid
        replayed = [control.receive_json() for _ in range(2)]
        assert replayed == received[1:]  # exactly the missed finals, in order, before anything new
        more = speech("sb_spk2_snt1.wav")
        with after.audio(session_id=sid) as audio:
            send_audio(audio, more)
            new = read_until(control, "final_result")
            # as the Python client does: every byte of the session, before the restart too
            control.send_json({"type": "stop_stream", "audio_bytes": len(first) + len(more)})
            after_stop, code = read_until_closed(control)
    assert [m["seq"] for m in new if m["type"] == "final_result"] == [4]  # no final came twice
    assert [m["type"] for m in after_stop] == ["session_ended"]  # no audio_missing: the old host's share is unknown
    # the stream goes on where the stored one ended: numbering and time
    assert new[-1]["data"]["audio"]["start"] >= received[-1]["data"]["audio"]["end"]
    assert after_stop[-1]["type"] == "session_ended" and after_stop[-1]["finals"] == 4 and code == 1000

    summary = after.client.get(f"/v1/sessions/{sid}", headers=A).json()
    assert summary["status"] == "ended" and summary["finals"] == 4
    cues = parse_srt(after.client.get(f"/v1/sessions/{sid}/transcript?format=srt", headers=A).text)
    assert_monotonic(cues)
    assert [c.text for c in cues] == [f["data"]["text"] for f in [*received, new[-1]]]


def test_only_the_owner_resumes_a_stored_session(
    serve: Callable[..., Stack], store_settings: StoreSettings, speech: Callable[..., bytes]
) -> None:
    sid, received = stream_then_stop_app(serve(store=store_settings), speech("sb_spk2_snt1.wav"), 1, "crash")
    after = serve(store=store_settings)
    with after.control("key-b", session_id=sid) as thief:
        thief.send_json({"type": "start_stream", "last_seq": 0})
        error, code = rejected(thief)
    assert error["code"] == "session_not_found" and code == 4404
    # without last_seq the owner gets every stored final again
    with after.control(session_id=sid) as control:
        assert start(control)["resumed"] is True
        assert control.receive_json() == received[0]
        stop(control)
    # an ended session stays ended, here as on any later host
    later = serve(store=store_settings)
    with later.control(session_id=sid) as control:
        control.send_json({"type": "start_stream", "last_seq": 1})
        error, code = rejected(control)
    assert error["code"] == "session_not_found" and code == 4404


def eventually(check: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """``check()`` until ``done`` holds (a periodic background write), for at most 5 s."""
    deadline = time.monotonic() + 5.0
    while True:
        got = check()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def test_a_host_marks_its_live_sessions_alive(
    serve: Callable[..., Stack], tmp_path: Path, speech: Callable[..., bytes]
) -> None:
    settings = StoreSettings(data_dir=str(tmp_path), heartbeat_interval_s=0.05, interrupted_after_s=0.3)
    app = serve(reap_interval_s=0.02, store=settings)
    pcm = speech("sb_spk2_snt1.wav")
    streamed_s = len(pcm) / 32000
    with app.control() as control:
        sid = start(control)["session_id"]
        with app.audio(session_id=sid) as audio:
            send_audio(audio, pcm)
            read_until(control, "final_result")

            def detail() -> dict[str, Any]:
                return dict(app.client.get(f"/v1/sessions/{sid}", headers=A).json())

            # the heartbeat carries the audio received so far (past the last final's end)
            alive = eventually(detail, lambda d: d["audio_duration"] >= streamed_s - 0.05)
            assert alive["status"] == "active" and alive["audio_duration"] == pytest.approx(streamed_s, abs=0.05)
    app.crash()
    # nobody marks it alive any more: after interrupted_after_s it is reported interrupted
    later = serve(store=settings)
    gone = eventually(
        lambda: dict(later.client.get(f"/v1/sessions/{sid}", headers=A).json()),
        lambda d: d["status"] == "interrupted",
    )
    assert gone["status"] == "interrupted" and gone["end_reason"] is None and gone["ended_at"] is None
