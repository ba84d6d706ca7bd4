"""One fuzzed session through the real app: a clean clip and its final first, then the hostile part,
then a stop; and what must hold afterwards. Shared by the properties and the corpus replay."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.compat_audio import g711
from tests.fuzz.checks import AUDIO_CODES, check_wire, no_tracebacks_logged
from tests.fuzz.seeds import SEED_CLIP, seed_stream
from tests.integration.conftest import AUTH_A, Message, Stack, of_type, read_until, read_until_closed, start

#: what fuzzed commands and frames may be answered with, besides the audio codes
COMMAND_CODES = frozenset({"invalid_message", "unknown_command", "wrong_frame_type", "invalid_state"})
#: frames of the hostile part sent at most (each may be answered with an error)
MAX_FRAMES = 60


@dataclass(frozen=True)
class Stream:
    encoding: str
    clean: bytes  # the seed clip in this encoding: its one utterance gets its final
    options: dict[str, Any]

    @property
    def frame_limit(self) -> int:
        return 65536 if self.encoding in ("wav", "ogg", "mp3") else 8192


def clean_streams(shared_data: Path, speech: Callable[..., bytes]) -> dict[str, Stream]:
    """The seed clip in every encoding a session may use (raw G.711 at 8 kHz, as telephony sends it)."""
    pcm = speech(SEED_CLIP, lead_s=0.5, gap_s=1.5)
    wav = bytearray(seed_stream(shared_data, "wav"))
    data_at = wav.index(b"data")
    wav[data_at + 4 : data_at + 8] = struct.pack("<I", 0xFFFFFFFF)  # streamed: later bytes are samples too
    return {
        "pcm_s16le": Stream("pcm_s16le", pcm, {}),
        "pcm_mulaw": Stream("pcm_mulaw", g711(pcm, "mulaw"), {"sample_rate": 8000}),
        "pcm_alaw": Stream("pcm_alaw", g711(pcm, "alaw"), {"sample_rate": 8000}),
        "wav": Stream("wav", bytes(wav), {}),
        "ogg": Stream("ogg", seed_stream(shared_data, "ogg"), {}),
        "mp3": Stream("mp3", seed_stream(shared_data, "mp3"), {}),
    }


@dataclass(frozen=True)
class Step:
    """One hostile frame: text or bytes, on the control or the audio socket."""

    channel: str  # "control" or "audio"
    text: str | None = None
    data: bytes | None = None


def fuzz_session(stack: Stack, stream: Stream, steps: list[Step], allowed: frozenset[str]) -> None:
    """Streams ``stream.clean`` and waits for its final, sends ``steps``, stops; then checks the session
    ended once with every final delivered, numbered, counted and stored, and that the app is healthy."""
    with no_tracebacks_logged(), stack.control() as control:
        options = {"audio": {"encoding": stream.encoding, **stream.options}}
        sid = str(start(control, options=options)["session_id"])
        with stack.audio(session_id=sid) as audio:
            for i in range(0, len(stream.clean), 4096):
                audio.send_bytes(stream.clean[i : i + 4096])
            before = read_until(control, "final_result")
            sent = len(stream.clean)
            for step in steps[:MAX_FRAMES]:
                ws = control if step.channel == "control" else audio
                if step.text is not None:
                    ws.send_text(step.text)
                elif step.data is not None:
                    ws.send_bytes(step.data)
                    sent += len(step.data) if ws is audio else 0
            control.send_json({"type": "stop_stream", "audio_bytes": sent})
            after, close = read_until_closed(control, limit=5000)
    codes = {m["code"] for m in of_type(before + after, "error")}
    assert codes <= allowed, codes
    ended_well(stack, sid, before, after, close)


def ended_well(stack: Stack, sid: str, before: list[Message], after: list[Message], close: int) -> None:
    messages = before + after
    for msg in messages:
        check_wire(msg)
    finals = of_type(messages, "final_result")
    ended = of_type(messages, "session_ended")
    assert finals[0] == of_type(before, "final_result")[0]
    assert [f["seq"] for f in finals] == list(range(1, len(finals) + 1))
    assert len(ended) == 1 and ended[0]["finals"] == len(finals) and messages[-1] == ended[0], messages[-3:]
    assert close == 1000
    stored = stack.client.get(f"/v1/sessions/{sid}/transcript", params={"format": "json"}, headers=AUTH_A)
    assert stored.status_code == 200
    assert [(f["seq"], f["text"]) for f in stored.json()["finals"]] == [(f["seq"], f["data"]["text"]) for f in finals]
    healthy(stack)


def healthy(stack: Stack) -> None:
    health = stack.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert stack.errors("internal_error") == 0
    assert stack.host.count() == 0  # nothing left running


def audio_steps(frames: list[bytes]) -> list[Step]:
    return [Step("audio", data=f) for f in frames]


ALL_CODES = COMMAND_CODES | AUDIO_CODES
