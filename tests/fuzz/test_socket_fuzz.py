"""Fuzzing through the real Starlette app (``TestClient``: in-process session host, real VAD, scripted
model, SQLite store): the whole socket path from the handshake to the stored transcript.

Each example first streams a real clip and waits for its final, then sends the hostile part (commands,
frames), then stops (:func:`~tests.fuzz.flows.fuzz_session`). It must find no ``internal_error`` (every
error a stable code with a bounded message), no traceback logged, one ``session_ended`` whose count is
the finals delivered (numbered 1, 2, 3 … with the first one unchanged), the same finals in the store,
and ``/healthz`` answering. One app serves all the examples of a test, so that what one example
breaks shows in the next.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from tests.fuzz.budget import budget, timeout
from tests.fuzz.checks import AUDIO_CODES, WIRE_CODES, check_wire, no_tracebacks_logged
from tests.fuzz.flows import ALL_CODES, Step, Stream, audio_steps, fuzz_session, healthy
from tests.fuzz.seeds import seed_bytes
from tests.fuzz.strategies import client_text, frames_of, interleave, mutated_stream
from tests.integration.conftest import AUTH_A, CHUNK_BYTES, Stack, of_type, read_until_closed

pytestmark = timeout(300)

steps = st.one_of(
    client_text.map(lambda t: Step("control", text=t)),
    st.binary(max_size=64).map(lambda b: Step("control", data=b)),  # binary on the control socket
    st.integers(1, 10).map(lambda n: Step("audio", data=bytes(CHUNK_BYTES * n // 10 // 2 * 2))),
    client_text.map(lambda t: Step("audio", text=t)),  # text on an attached audio socket
)


@settings(max_examples=budget(60))
@given(script=st.lists(steps, max_size=10))
def test_control_socket_survives_any_commands(stack: Stack, streams: dict[str, Stream], script: list[Step]) -> None:
    fuzz_session(stack, streams["pcm_s16le"], script, ALL_CODES)


@pytest.mark.parametrize("encoding", ["pcm_s16le", "pcm_mulaw", "wav", "ogg", "mp3"])
@settings(max_examples=budget(25))
@given(data=st.data())
def test_audio_socket_survives_mutated_frames(
    stack: Stack, streams: dict[str, Stream], encoding: str, data: st.DataObject
) -> None:
    """After a clean clip: random, truncated, bit-flipped, spliced or interleaved frames in the same stream."""
    stream = streams[encoding]
    others = [s.clean for s in streams.values() if s is not stream]
    seeds = [stream.clean, *seed_bytes(encoding)]
    frames = data.draw(frames_of(data.draw(mutated_stream(seeds, others)), stream.frame_limit))
    if data.draw(st.booleans(), label="interleave"):
        frames = interleave(frames, data.draw(frames_of(data.draw(mutated_stream(others, seeds)), stream.frame_limit)))
    fuzz_session(stack, stream, audio_steps(frames), AUDIO_CODES)


_query_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["", "x" * 65, "a/b", "../../etc", "client-b", "client-a", "🎙", "%00", "null"]),
)
handshakes = st.fixed_dictionaries(
    {}, optional={"session_id": _query_values, "client_id": _query_values, "token": _query_values}
)


@settings(max_examples=budget(80))
@given(query=handshakes, path=st.sampled_from(["/v1/stream/control", "/v1/stream/audio"]), first=client_text)
def test_handshakes_and_first_commands_get_a_session_or_a_stable_code(
    stack: Stack, query: dict[str, str], path: str, first: str
) -> None:
    """Any query string and any first command: a session, or a refusal with a known code and close code."""
    with no_tracebacks_logged():
        try:
            with stack.client.websocket_connect(f"{path}?{urlencode(query)}", headers=AUTH_A) as ws:
                ws.send_text(first)
                ws.send_text(json.dumps({"type": "start_stream"}))  # whatever the first was, a session now
                ws.send_text(json.dumps({"type": "stop_stream"}))
                messages, close = read_until_closed(ws, limit=5000)
        except WebSocketDisconnect as exc:  # refused before a message could be read
            messages, close = [], exc.code
    for msg in messages:
        check_wire(msg)
    assert {e["code"] for e in of_type(messages, "error")} <= WIRE_CODES
    assert close in (1000, 4400, 4401, 4403, 4404, 4429), (close, messages[-2:])
    healthy(stack)
