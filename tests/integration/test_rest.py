"""The REST API over stored transcripts, through the real app with an in-process host and store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest

from app import protocol as p
from app.auth import AuthSettings, Principal, mint_token
from app.config import StoreSettings
from tests.integration.conftest import (
    JWT_SECRET,
    Message,
    Stack,
    of_type,
    read_until,
    send_audio,
    start,
    stop,
)
from tests.subtitles import assert_monotonic, parse_srt, parse_vtt

pytestmark = pytest.mark.timeout(60)

A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


@pytest.fixture
def stored(serve: Callable[..., Stack], database_url: str, tmp_path: Path) -> Stack:
    """An app that stores its sessions, on each database."""
    return serve(store=StoreSettings(database_url=database_url, data_dir=str(tmp_path)))


@pytest.fixture
def local(serve: Callable[..., Stack], tmp_path: Path) -> Stack:
    """An app storing into an SQLite file (the default), with audio retention on."""
    return serve(store=StoreSettings(data_dir=str(tmp_path), audio_retention={"enabled": True}))


def stream(stack: Stack, pcm: bytes, finals: int, key: str = "key-a") -> tuple[str, list[Message]]:
    """A session over control + audio sockets: ``finals`` finals, then stop; its id and its finals."""
    with stack.control(key) as control:
        sid = start(control)["session_id"]
        with stack.audio(key, session_id=sid) as audio:
            send_audio(audio, pcm)
            got = [read_until(control, "final_result")[-1] for _ in range(finals)]
            after, code = stop(control)
    assert code == 1000 and after[-1]["type"] == "session_ended"
    return sid, got + of_type(after, "final_result")


def error_of(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


def test_a_streamed_session_in_every_format(stored: Stack, speech: Callable[..., bytes]) -> None:
    sid, finals = stream(stored, speech("sb_spk1_snt1.wav", "sb_spk2_snt2.wav", "sb_spk1_snt3.wav"), 3)
    assert [f["seq"] for f in finals] == [1, 2, 3]

    listed = stored.client.get("/v1/sessions", headers=A).json()
    (summary,) = [s for s in listed["sessions"] if s["session_id"] == sid]
    assert summary["status"] == "ended" and summary["end_reason"] == "stopped"
    assert summary["finals"] == 3 and summary["client_id"] == "client-a" and summary["audio_duration"] > 0
    detail = stored.client.get(f"/v1/sessions/{sid}", headers=A)
    assert detail.status_code == 200 and detail.headers["cache-control"] == "no-store"
    assert detail.json()["options"]["language"] == "en" and detail.json()["audio_retained"] is False

    # json: every final exactly as the client received it
    body = stored.client.get(f"/v1/sessions/{sid}/transcript", params={"format": "json"}, headers=A).json()
    assert [f["seq"] for f in body["finals"]] == [1, 2, 3]
    for got, sent in zip(body["finals"], finals, strict=True):
        assert {k: got[k] for k in sent["data"]} == sent["data"]

    texts = [f["data"]["text"] for f in finals]
    srt = stored.client.get(f"/v1/sessions/{sid}/transcript?format=srt", headers=A)
    assert srt.status_code == 200 and srt.headers["content-type"].startswith("application/x-subrip")
    assert f'filename="{sid}.srt"' in srt.headers["content-disposition"]
    cues = parse_srt(srt.text)
    assert_monotonic(cues)
    assert [c.text for c in cues] == texts
    assert [(c.start, c.end) for c in cues] == [
        (f["data"]["audio"]["start"], f["data"]["audio"]["end"]) for f in finals
    ]

    vtt = stored.client.get(f"/v1/sessions/{sid}/transcript?format=vtt", headers=A)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert [c.text for c in parse_vtt(vtt.text)] == texts
    txt = stored.client.get(f"/v1/sessions/{sid}/transcript?format=txt", headers=A)
    assert txt.headers["content-type"].startswith("text/plain") and txt.text.splitlines() == texts


def test_speakers_appear_in_the_exports(stored: Stack) -> None:
    assert stored.store is not None
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    stored.call(stored.store.start_session, "talk", "client-a", options={}, audio_start=t0)
    for seq, who in enumerate(["speaker_1", "speaker_2"], 1):
        data = p.FinalData(
            text=f"Line {seq}.",
            confidence=0.9,
            audio=p.AudioSpan(start=seq * 2.0, end=seq * 2.0 + 1, duration=1.0),
            timestamp=t0 + timedelta(seconds=seq * 2),
            speakers=p.Speakers(
                count=1,
                details=[p.SpeakerDetail(id=who, speaking_time=1.0, segments=[p.SpeakerSegment(start=0, end=1)])],
            ),
        )
        stored.call(stored.store.save_final, p.FinalResult(session_id="talk", utterance_id=seq, seq=seq, data=data))
    srt = parse_srt(stored.client.get("/v1/sessions/talk/transcript?format=srt", headers=A).text)
    vtt = parse_vtt(stored.client.get("/v1/sessions/talk/transcript?format=vtt", headers=A).text)
    assert [c.speaker for c in srt] == [c.speaker for c in vtt] == ["speaker_1", "speaker_2"]
    txt = stored.client.get("/v1/sessions/talk/transcript?format=txt", headers=A).text
    assert txt == "[speaker_1] Line 1.\n[speaker_2] Line 2.\n"


def test_a_client_sees_only_its_own_sessions(stored: Stack, speech: Callable[..., bytes]) -> None:
    sid, _ = stream(stored, speech("sb_spk2_snt1.wav"), 1)
    assert stored.client.get("/v1/sessions", headers=B).json() == {"sessions": [], "next_cursor": None}
    for method, path in [
        ("GET", f"/v1/sessions/{sid}"),
        ("GET", f"/v1/sessions/{sid}/transcript?format=srt"),
        ("DELETE", f"/v1/sessions/{sid}"),
    ]:
        # exactly the answer for a session that does not exist: nothing is revealed
        other = stored.client.request(method, path, headers=B)
        missing = stored.client.request(method, path.replace(sid, "no-such-session"), headers=A)
        assert other.status_code == missing.status_code == 404
        assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "session_not_found"
    assert stored.client.get(f"/v1/sessions/{sid}", headers=A).status_code == 200  # still there


def test_delete_removes_the_session(stored: Stack, speech: Callable[..., bytes]) -> None:
    sid, _ = stream(stored, speech("sb_spk2_snt1.wav"), 1)
    assert stored.client.delete(f"/v1/sessions/{sid}", headers=A).status_code == 204
    assert stored.client.get(f"/v1/sessions/{sid}", headers=A).status_code == 404
    assert stored.client.get(f"/v1/sessions/{sid}/transcript", headers=A).status_code == 404
    assert stored.client.get("/v1/sessions", headers=A).json()["sessions"] == []
    error_of(stored.client.delete(f"/v1/sessions/{sid}", headers=A), 404, "session_not_found")
    # nor can it be resumed
    with stored.control(session_id=sid) as control:
        control.send_json({"type": "start_stream", "last_seq": 1})
        assert control.receive_json()["code"] == "session_not_found"


def test_a_streaming_session_cannot_be_deleted(stored: Stack) -> None:
    with stored.control() as control:
        sid = start(control)["session_id"]
        message = error_of(stored.client.delete(f"/v1/sessions/{sid}", headers=A), 409, "session_active")
        assert "stop" in message
        assert stored.client.get(f"/v1/sessions/{sid}", headers=A).json()["status"] == "active"
        stop(control)
    assert stored.client.delete(f"/v1/sessions/{sid}", headers=A).status_code == 204


def test_pagination_and_time_filters(local: Stack) -> None:
    sids = []
    for _ in range(3):
        with local.control() as control:
            sids.append(start(control)["session_id"])
            stop(control)
    first = local.client.get("/v1/sessions?limit=2", headers=A).json()
    assert [s["session_id"] for s in first["sessions"]] == sids[:0:-1] and first["next_cursor"]
    second = local.client.get(f"/v1/sessions?limit=2&cursor={first['next_cursor']}", headers=A).json()
    assert [s["session_id"] for s in second["sessions"]] == sids[:1] and second["next_cursor"] is None
    started = [datetime.fromisoformat(s["started_at"]) for s in first["sessions"] + second["sessions"]]
    since = (started[1]).isoformat().replace("+00:00", "Z")
    window = local.client.get("/v1/sessions", params={"since": since}, headers=A).json()
    assert [s["session_id"] for s in window["sessions"]] == sids[:0:-1]
    until = local.client.get("/v1/sessions", params={"until": since}, headers=A).json()
    assert [s["session_id"] for s in until["sessions"]] == sids[:1]


@pytest.mark.parametrize(
    ("path", "status", "code", "says"),
    [
        ("/v1/sessions/bad%20id", 400, "invalid_request", "session_id"),
        ("/v1/sessions/bad%20id/transcript", 400, "invalid_request", "session_id"),
        ("/v1/sessions/s1/transcript?format=pdf", 400, "invalid_request", "json, txt, srt, vtt"),
        ("/v1/sessions?limit=0", 400, "invalid_request", "limit"),
        ("/v1/sessions?limit=101", 400, "invalid_request", "limit"),
        ("/v1/sessions?limit=ten", 400, "invalid_request", "limit"),
        ("/v1/sessions?cursor=garbage", 400, "invalid_request", "cursor"),
        ("/v1/sessions?since=yesterday", 400, "invalid_request", "since"),
        ("/v1/sessions?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", 400, "invalid_request", "earlier"),
        ("/v1/sessions/s1", 404, "session_not_found", "s1"),
    ],
)
def test_bad_requests_get_clear_errors(local: Stack, path: str, status: int, code: str, says: str) -> None:
    assert says in error_of(local.client.get(path, headers=A), status, code)


def test_credentials_as_on_the_sockets(local: Stack) -> None:
    assert "missing credentials" in error_of(local.client.get("/v1/sessions"), 401, "unauthenticated")
    error_of(local.client.get("/v1/sessions", headers={"Authorization": "Bearer nope"}), 401, "unauthenticated")
    error_of(local.client.get("/v1/sessions?client_id=client-b", headers=A), 403, "forbidden")
    assert local.client.get("/v1/sessions?token=key-a").status_code == 200
    with local.control() as control:
        sid = start(control)["session_id"]
        stop(control)
    # a token bound to one session reads that session only, and cannot list
    auth = AuthSettings(jwt_secret=JWT_SECRET)
    bound, _ = mint_token(auth, Principal("client-a", via="api_key"), session_id=sid)
    bearer = {"Authorization": f"Bearer {bound}"}
    assert local.client.get(f"/v1/sessions/{sid}", headers=bearer).status_code == 200
    error_of(local.client.get("/v1/sessions/another", headers=bearer), 403, "forbidden")
    error_of(local.client.get("/v1/sessions", headers=bearer), 403, "forbidden")


def test_without_a_store_the_api_says_so(stack: Stack) -> None:
    assert "store" in error_of(stack.client.get("/v1/sessions", headers=A), 503, "storage_unavailable")
    error_of(stack.client.get("/v1/sessions", headers=B), 503, "storage_unavailable")
    error_of(stack.client.get("/v1/sessions"), 401, "unauthenticated")  # credentials come first


def test_retained_audio_is_flac_of_the_stream_and_goes_with_the_session(
    local: Stack, speech: Callable[..., bytes]
) -> None:
    pcm = speech("sb_spk2_snt1.wav")
    sid, _ = stream(local, pcm, 1)
    (flac,) = (Path(local.settings.store.data_dir) / "audio" / f"s-{sid}").iterdir()
    assert flac.name == "0.flac"
    with av.open(str(flac)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
        assert container.streams.audio[0].rate == 16000
    assert samples == len(pcm) // 2
    assert local.client.get(f"/v1/sessions/{sid}", headers=A).json()["audio_retained"] is True
    assert local.client.delete(f"/v1/sessions/{sid}", headers=A).status_code == 204
    assert not flac.parent.exists()


def test_a_final_that_cannot_be_stored_is_still_delivered_with_a_warning(
    local: Stack, speech: Callable[..., bytes]
) -> None:
    storage = local.host.storage  # the host process's store goes down mid-stream
    assert storage is not None
    with local.control() as control:
        sid = start(control)["session_id"]
        local.call(storage.store.close)
        with local.audio(session_id=sid) as audio:
            send_audio(audio, speech("sb_spk1_snt1.wav"))
            messages = read_until(control, "final_result")
        with contextlib.suppress(Exception):
            stop(control)
    (warning,) = of_type(messages, "warning")
    assert warning["code"] == "storage_failed" and "final 1" in warning["message"]
    assert messages.index(warning) == len(messages) - 2  # right before its final
    assert local.errors("storage_failed") == 1


def test_a_session_cannot_start_without_its_store(serve: Callable[..., Stack], tmp_path: Path) -> None:
    nowhere = StoreSettings(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/none", data_dir=str(tmp_path))
    down = serve(store=nowhere)
    with down.control() as control:
        control.send_json({"type": "start_stream"})
        error = control.receive_json()
    assert error["code"] == "storage_unavailable" and error["fatal"] is True
    error_of(down.client.get("/v1/sessions", headers=A), 503, "storage_unavailable")
