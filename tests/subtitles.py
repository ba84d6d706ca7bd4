"""Strict little SRT and WebVTT parsers for the export tests: anything malformed raises AssertionError."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SRT_TIME = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$")
_VTT_TIME = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$")
_VOICE = re.compile(r"^<v ([^>]+)>(.*)$")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    speaker: str | None = None


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _blocks(text: str) -> list[list[str]]:
    assert "\r" not in text, "line endings must be \\n"
    return [b.split("\n") for b in text.strip("\n").split("\n\n") if b.strip()]


def parse_srt(text: str) -> list[Cue]:
    """SubRip: numbered blocks (1, 2, …), a ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` line, text lines;
    a ``[speaker]`` prefix is taken as the speaker."""
    cues: list[Cue] = []
    for number, lines in enumerate(_blocks(text), 1):
        assert len(lines) >= 3, f"SRT block {number} is incomplete: {lines}"
        assert lines[0] == str(number), f"SRT block {number} is numbered {lines[0]!r}"
        timing = _SRT_TIME.match(lines[1])
        assert timing, f"SRT block {number} has a bad timing line {lines[1]!r}"
        body = " ".join(lines[2:])
        assert body.strip() and "-->" not in body, f"SRT block {number} has bad text {body!r}"
        speaker = None
        if m := re.match(r"^\[([^\]]+)\] (.*)$", body):
            speaker, body = m.group(1), m.group(2)
        g = timing.groups()
        cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), body, speaker))
    return cues


def parse_vtt(text: str) -> list[Cue]:
    """WebVTT: a ``WEBVTT`` header, then cues (an optional identifier, a ``HH:MM:SS.mmm --> …`` line,
    text lines); a ``<v name>`` voice tag is taken as the speaker. Text must escape ``&``, ``<``, ``>``."""
    blocks = _blocks(text)
    assert blocks and blocks[0][0] == "WEBVTT", "a WebVTT file starts with WEBVTT"
    cues: list[Cue] = []
    for lines in blocks[1:]:
        if not _VTT_TIME.match(lines[0]):
            assert "-->" not in lines[0], f"bad cue identifier {lines[0]!r}"
            lines = lines[1:]
        timing = _VTT_TIME.match(lines[0]) if lines else None
        assert timing, f"VTT cue has no timing line: {lines}"
        body = " ".join(lines[1:])
        assert body.strip() and "-->" not in body, f"VTT cue has bad text {body!r}"
        speaker = None
        if m := _VOICE.match(body):
            speaker, body = m.group(1), m.group(2)
        assert "<" not in body and ">" not in body, f"unescaped markup in {body!r}"
        body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        g = timing.groups()
        cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), body, speaker))
    return cues


def assert_monotonic(cues: list[Cue]) -> None:
    """Each cue lasts a while, and starts no earlier than the previous one ends."""
    previous_end = 0.0
    for cue in cues:
        assert cue.end > cue.start, f"cue ends before it starts: {cue}"
        assert cue.start >= previous_end, f"cue starts before the previous one ends: {cue}"
        previous_end = cue.end
