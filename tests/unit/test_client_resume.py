"""The client resumes by itself after a dropped connection, with backoff, and sends again the audio
the server lacks (against the fake server of ``tests/fakes/server.py``); the kept-audio buffer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from app import protocol as p
from app.client import ResumeEvent, ResumePolicy, StreamState, SttClient, SttClientError, SttStream
from app.client.resume import KeptAudio, can_retry
from tests.fakes.server import FakeServer, running

pytestmark = pytest.mark.timeout(20)

FAST = ResumePolicy(first_delay_s=0.01, max_delay_s=0.05, timeout_s=5.0)
FMT = p.AudioFormat(sample_rate=16000, encoding="pcm_s16le", channels=1)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with running() as fake:
        yield fake


async def until(check: object, what: str) -> None:
    """Wait (at most 5 s) until ``check()`` holds: the fake server works in its own task."""
    for _ in range(500):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def finals_until(stream: SttStream, n: int) -> list[p.FinalResult]:
    async for msg in stream:
        if isinstance(msg, p.FinalResult) and msg.seq >= n:
            break
    return list(stream.finals)


def frame(tag: int) -> bytes:
    return bytes([tag, 0]) * 1600  # 100 ms


async def test_a_dropped_stream_resumes_by_itself_and_sends_what_was_lost(server: FakeServer) -> None:
    events: list[ResumeEvent] = []
    client = SttClient(server.base_url, api_key="k", resume=FAST)
    async with client.stream(on_resume=events.append) as stream:
        await stream.send_audio(frame(1))
        await finals_until(stream, 1)
        server.deaf = True  # the next frames are lost in flight with the old connection
        await stream.send_audio(frame(2))
        await stream.send_audio(frame(3))
        await until(lambda: len(server.lost) == 2, "two frames lost")
        server.deaf = False
        await server.drop(stream.session_id)  # 1012: the host went away
        await stream.send_audio(frame(4))  # while resuming: kept, sent once resumed
        await until(lambda: sum(map(len, server.frames)) >= 12800, "all the audio arrived")
        await until(lambda: stream.state is StreamState.OPEN, "resumed")
        finals = await stream.finish()
    resume = next(c for c in server.commands if isinstance(c, p.StartStream) and c.last_seq is not None)
    assert resume.last_seq == 1 and resume.audio_offset_bytes == 3200  # kept: after final 1's end
    # the lost frames again, then the new one, each byte once (re-cut into frames of up to 8192 bytes)
    assert b"".join(server.frames) == frame(1) + frame(2) + frame(3) + frame(4)
    assert [f.seq for f in finals] == list(range(1, len(server.frames) + 1))
    assert [e.kind for e in events] == ["lost", "resumed"]
    assert events[0].error is not None and events[0].error.close_code == 1012
    assert events[1].resent_bytes == 9600 and events[1].tries == 1
    assert len(stream.resume_times) == 1


async def test_resume_retries_with_backoff_until_the_host_is_back(server: FakeServer) -> None:
    events: list[ResumeEvent] = []
    client = SttClient(server.base_url, api_key="k", resume=FAST)
    async with client.stream(on_resume=events.append) as stream:
        await stream.send_audio(frame(1))
        await finals_until(stream, 1)
        server.refuse_resumes = 3  # the host is still restarting: 1012 three times
        await server.drop(stream.session_id)
        await stream.send_audio(frame(2))
        await finals_until(stream, 2)
        finals = await stream.finish()
    assert [f.seq for f in finals] == [1, 2]
    assert [e.kind for e in events] == ["lost", "resumed"] and events[1].tries == 4


async def test_stop_during_a_resume_goes_to_the_resumed_session(server: FakeServer) -> None:
    client = SttClient(server.base_url, api_key="k", resume=FAST)
    async with client.stream() as stream:
        await stream.send_audio(frame(1))
        await finals_until(stream, 1)
        server.refuse_resumes = 2
        await server.drop(stream.session_id)
        finals = await stream.finish()  # stop() waits for the resume, then everything up to session_ended
    assert [f.seq for f in finals] == [1]
    assert [c.type for c in server.commands][-1] == "stop_stream"
    assert stream.state is StreamState.CLOSED


async def test_resume_gives_up_after_its_timeout(server: FakeServer) -> None:
    events: list[ResumeEvent] = []
    policy = ResumePolicy(first_delay_s=0.02, max_delay_s=0.05, timeout_s=0.3)
    async with SttClient(server.base_url, api_key="k", resume=policy).stream(on_resume=events.append) as stream:
        server.refuse_resumes = 1000
        await server.drop(stream.session_id)
        with pytest.raises(SttClientError) as err:
            async for _ in stream:
                pass
        assert err.value.close_code == 1012 and not err.value.fatal
        assert stream.state is StreamState.DISCONNECTED
        assert [e.kind for e in events] == ["lost", "failed"] and events[1].tries >= 3
        # by hand it may still be tried
        server.refuse_resumes = 0
        assert (await stream.reconnect()).resumed


async def test_a_session_gone_for_good_fails_at_once(server: FakeServer) -> None:
    async with SttClient(server.base_url, api_key="k", resume=FAST).stream() as stream:
        server.resume_close = 4404
        await server.drop(stream.session_id)
        with pytest.raises(SttClientError) as err:
            async for _ in stream:
                pass
    assert err.value.close_code == 4404 and err.value.fatal
    starts = [c for c in server.commands if isinstance(c, p.StartStream)]
    assert len(starts) == 2  # the start, then one resume: no retry after a 4404


async def test_no_resume_raises_the_drop(server: FakeServer) -> None:
    manual = ResumePolicy(enabled=False)
    async with SttClient(server.base_url, api_key="k", resume=manual).stream() as stream:
        await server.drop(stream.session_id)
        with pytest.raises(SttClientError) as err:
            async for _ in stream:
                pass
    assert (err.value.code, err.value.close_code) == ("connection_lost", 1012)


def test_kept_audio_is_what_came_after_the_last_final_within_its_bound() -> None:
    kept = KeptAudio(FMT, max_s=1.0)  # 32000 bytes
    kept.append(b"\1\0" * 8000)  # 0.5 s
    kept.release(0.25)
    assert (kept.start, kept.end) == (8000, 16000)
    kept.append(b"\2\0" * 16000)  # 1.5 s sent in all, 1.25 s after the last final: 0.25 s more than kept
    assert (kept.start, kept.end, kept.unkept) == (16000, 48000, 8000)
    kept.pinned = 20000  # a resume reads from here: not dropped for room
    kept.append(b"\3\0" * 8000)
    assert kept.start == 20000 and kept.read(20000, 4) == b"\2\0\2\0"
    kept.release(10.0)  # a final past everything sent: nothing left
    assert kept.start == 20000  # ... but what the resume reads stays
    kept.pinned = None
    kept.release(10.0)
    assert kept.start == kept.end == 64000
    with pytest.raises(ValueError):
        kept.read(0, 2)


def test_kept_audio_counts_whole_sample_frames() -> None:
    stereo = p.AudioFormat(sample_rate=8000, encoding="pcm_mulaw", channels=2)
    kept = KeptAudio(stereo, max_s=1.0)
    assert kept.offset_at(0.0001) == 0 and kept.offset_at(1.0) == 16000
    kept.append(b"\0" * 3)
    kept.release(1.0)
    assert kept.start % 2 == 0
    assert KeptAudio.for_format(p.AudioFormat(sample_rate=16000, encoding="wav", channels=1), 30) is None
    assert KeptAudio.for_format(FMT, 0) is None


def test_backoff_and_what_is_worth_retrying() -> None:
    policy = ResumePolicy(first_delay_s=0.2, max_delay_s=1.0)
    delays = [d for _, d in zip(range(6), policy.delays(random.Random(1)), strict=False)]
    assert delays[0] == 0
    base = [0.2, 0.4, 0.8, 1.0, 1.0]  # doubled up to the most, each with ±20 % jitter
    assert all(0.8 * b <= d <= 1.2 * b for d, b in zip(delays[1:], base, strict=True))
    assert can_retry(SttClientError("x", code="connection_lost", close_code=1006))
    assert can_retry(SttClientError("x", code="session_interrupted", close_code=1012))
    assert can_retry(SttClientError("x", code="connection_failed"))
    assert can_retry(SttClientError("x", code="unavailable", http_status=503))
    assert can_retry(SttClientError("x", code="storage_unavailable", close_code=4503))
    assert not can_retry(SttClientError("x", code="session_not_found", close_code=4404))
    assert not can_retry(SttClientError("x", code="unauthenticated", http_status=401))
    with pytest.raises(ValueError):
        ResumePolicy(buffer_s=-1)
