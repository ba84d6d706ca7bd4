"""The health endpoint and what the app records in its metrics."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import Stack, read_until, rejected, send_audio, start, stop

pytestmark = pytest.mark.timeout(30)


def test_healthz(stack: Stack) -> None:
    response = stack.client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "protocol_version": "1.0", "replica": "local", "connections": 0}


def test_healthz_counts_the_connections_on_the_replica(stack: Stack) -> None:
    with stack.control() as control:
        start(control)
        assert stack.client.get("/healthz").json()["connections"] == 1
        stop(control)
    assert stack.client.get("/healthz").json()["connections"] == 0


def test_errors_are_counted_by_code(stack: Stack, speech: Callable[..., bytes]) -> None:
    with stack.client.websocket_connect("/v1/stream/control") as anonymous:
        rejected(anonymous)
    with stack.control() as control:
        control.send_text('{"type": "rewind"}')  # before the start, and after
        assert control.receive_json()["code"] == "unknown_command"
        sid = start(control)["session_id"]
        control.send_text('{"type": "rewind"}')
        control.send_bytes(b"\x00\x00")
        with stack.audio(session_id=sid) as audio:
            audio.send_text('{"type": "stop_stream"}')  # reported by the socket
            audio.send_bytes(bytes(3201))  # found by the session's audio feeder
            codes = [read_until(control, "error")[-1]["code"] for _ in range(4)]
            assert sorted(codes) == ["misaligned_audio", "unknown_command", "wrong_frame_type", "wrong_frame_type"]
            pcm = speech("sb_spk2_snt5.wav")
            send_audio(audio, pcm)
            read_until(control, "final_result")
            stop(control)
    counts = {tags: value for (name, tags), value in stack.metrics.counts.items() if name == "errors"}
    assert counts == {
        (("code", "unauthenticated"),): 1.0,
        (("code", "unknown_command"),): 2.0,
        (("code", "wrong_frame_type"),): 2.0,
        (("code", "misaligned_audio"),): 1.0,
    }
    assert stack.metrics.counts[("sessions_started", ())] == 1.0
    assert stack.metrics.counts[("audio_bytes", ())] == len(pcm) + 3201
    assert stack.metrics.counts[("audio_seconds", ())] == pytest.approx(len(pcm) / 32000)
    assert stack.metrics.gauges[("sessions_active", ())] == 0
