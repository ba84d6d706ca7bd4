"""The compatible APIs' sockets through the real app, fuzzed: any query string on the Deepgram and
AssemblyAI handshakes, then any of their JSON messages and any bytes. Each is served or refused the
vendor's way; none ends in a server fault, logs a traceback, or closes with a reason WebSocket
cannot carry (a close frame holds at most 123 bytes of reason)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.fuzz.budget import budget, timeout
from tests.fuzz.checks import no_tracebacks_logged
from tests.fuzz.flows import Stream
from tests.fuzz.strategies import json_values, query_params, scalars
from tests.integration.conftest import Stack

pytestmark = timeout(300)

#: path, credential header, the message types the vendor defines (the last one ends the stream)
VENDORS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "deepgram": ("/v1/listen", {"Authorization": "Token key-a"}, ["KeepAlive", "Finalize", "Configure", "CloseStream"]),
    "assemblyai": (
        "/v3/ws",
        {"Authorization": "key-a"},
        ["KeepAlive", "ForceEndpoint", "UpdateConfiguration", "Terminate"],
    ),
}
#: queries each vendor accepts, which the fuzzed parameters are added to (most random queries are refused)
VALID: dict[str, list[list[tuple[str, str]]]] = {
    "deepgram": [
        [],
        [("encoding", "linear16"), ("sample_rate", "16000")],
        [("encoding", "mulaw"), ("sample_rate", "8000")],
    ],
    "assemblyai": [
        [("sample_rate", "16000")],
        [("encoding", "pcm_mulaw"), ("sample_rate", "8000")],
        [("encoding", "ogg_opus")],
    ],
}
MAX_CLOSE_REASON_BYTES = 123


def _messages(types: list[str]) -> st.SearchStrategy[str]:
    fields = {"keyterms": json_values, "features": json_values, "max_turn_silence": scalars}
    body = st.builds(
        lambda kind, extra: {"type": kind, **extra},
        st.sampled_from(types) | st.text(max_size=12),
        st.fixed_dictionaries({}, optional=fields),  # type: ignore[arg-type]
    )
    return body.map(json.dumps) | st.text(max_size=100)


def _until_closed(ws: WebSocketTestSession) -> tuple[int, str]:
    for _ in range(5000):
        message = ws.receive()
        if message["type"] == "websocket.close":
            return int(message.get("code", 1000)), str(message.get("reason") or "")
    raise AssertionError("socket still open")


@pytest.mark.parametrize("vendor", VENDORS)
@settings(max_examples=budget(50))
@given(data=st.data())
def test_vendor_sockets_serve_or_refuse_any_query_and_messages(
    stack: Stack, streams: dict[str, Stream], vendor: str, data: st.DataObject
) -> None:
    path, headers, types = VENDORS[vendor]
    pairs = data.draw(st.sampled_from(VALID[vendor])) + data.draw(query_params)
    speech = st.integers(0, 40).map(lambda i: streams["pcm_s16le"].clean[i * 3200 : (i + 1) * 3200])
    frames: list[Any] = data.draw(st.lists(_messages(types) | st.binary(max_size=3000) | speech, max_size=8))
    with no_tracebacks_logged():
        try:
            with stack.client.websocket_connect(f"{path}?{urlencode(pairs)}", headers=headers) as ws:
                for frame in frames:
                    ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
                ws.send_text(json.dumps({"type": types[-1]}))
                code, reason = _until_closed(ws)
            event(f"served, closed with {code}")
        except WebSocketDenialResponse as refused:  # refused at the handshake, with an HTTP status
            assert 400 <= refused.status_code < 500, refused.text
            code, reason = 1000, ""
            event(f"refused with HTTP {refused.status_code}")
        except WebSocketDisconnect as exc:
            code, reason = exc.code, exc.reason or ""
            event(f"closed at once with {code}")
    assert len(reason.encode()) <= MAX_CLOSE_REASON_BYTES, reason
    assert code not in (1011, 4500, 3005), (code, reason)  # the vendors' server-error closes
    assert stack.errors("internal_error") == 0
    assert stack.client.get("/healthz").status_code == 200
