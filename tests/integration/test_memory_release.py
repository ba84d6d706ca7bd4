"""A session host keeps nothing of a session once it is over: memory stays flat over many sessions.

Sessions end every way they can (stopped, the client gone until the idle timeout, a resume and a
stop, a start refused by the client limit); after the resume grace the host must hold no object of
any of them (session, inbox, outbox, hosted record) and no task of theirs may be left on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable

import pytest

from app.session.controller import StreamSession
from app.session.hosted import Hosted
from app.session.inbox import AudioInbox
from app.session.outbox import Outbox
from tests.integration.conftest import Stack, read_until, rejected, send_audio, start, stop

pytestmark = pytest.mark.timeout(60)

GRACE_S = 0.3
IDLE_S = 0.5
KINDS = (StreamSession, Hosted, AudioInbox, Outbox)


def alive() -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys((k.__name__ for k in KINDS), 0)
    for obj in gc.get_objects():
        for kind in KINDS:
            if type(obj) is kind:
                counts[kind.__name__] += 1
    return counts


async def _tasks() -> list[str]:
    current = asyncio.current_task()
    return sorted(t.get_name() for t in asyncio.all_tasks() if t is not current and not t.done())


def wait_forgotten(stack: Stack, sids: list[str], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(stack.call(stack.host.info, sid) is None for sid in sids):
            return
        time.sleep(0.05)
    raise AssertionError("ended sessions were not forgotten after the resume grace")


def test_a_host_releases_everything_of_ended_sessions(
    serve: Callable[..., Stack], speech: Callable[..., bytes]
) -> None:
    stack = serve(reap_interval_s=0.05, resume_grace_s=GRACE_S, idle_timeout_s=IDLE_S, max_sessions_per_client=1)
    pcm = speech("sb_spk1_snt1.wav")
    sids: list[str] = []
    with stack.control() as control:  # the host's own tasks (its reaper) start with its first session
        start(control)
        stop(control)
    baseline_tasks = stack.call(_tasks)
    for round_ in range(4):
        # stopped by its client
        with stack.control() as control:
            sid = start(control)["session_id"]
            with stack.audio(session_id=sid) as audio:
                send_audio(audio, pcm)
                read_until(control, "final_result")
            stop(control)
        sids.append(sid)
        # the client drops both sockets mid-utterance, resumes once, then goes away: the idle timeout ends it
        with stack.control() as control:
            sid = start(control)["session_id"]
            with stack.audio(session_id=sid) as audio:
                send_audio(audio, pcm[: len(pcm) // 2])
        with stack.control(session_id=sid) as control:
            start(control, last_seq=0)
            with contextlib.suppress(Exception):
                read_until(control, "session_ended", limit=50)
        # a second session while that one lives is refused by the client limit (if it still lives)
        with stack.control() as control:
            control.send_json({"type": "start_stream"})
            first = control.receive_json()
            if first["type"] == "session_started":
                sids.append(first["session_id"])
                stop(control)
            else:
                assert first["type"] == "error", first
                rejected_msg, _ = (first, None) if first.get("fatal") else rejected(control)
                assert rejected_msg["code"] == "too_many_sessions", rejected_msg
        sids.append(sid)
        assert round_ >= 0
    wait_forgotten(stack, sids)
    assert alive() == dict.fromkeys((k.__name__ for k in KINDS), 0)
    assert stack.call(_tasks) == baseline_tasks
