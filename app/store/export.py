"""A session's finals as a transcript file: JSON, plain text, SubRip (SRT) or WebVTT.

One cue a final, in ``seq`` order, timed by its ``audio.start``/``audio.end`` (seconds of stream
time, so they index the session's audio). Cue times never go backwards: a cue starts no earlier
than the previous one ends and lasts at least a millisecond. A final's speaker is the one who
spoke most of it (``speakers.details``, else its words' ``speaker``): text and SRT cues get a
``[speaker_1]`` prefix, WebVTT cues a voice tag ``<v speaker_1>``; without diarization, none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from app import protocol as p
from app.store.records import SessionRecord

Format = Literal["json", "txt", "srt", "vtt"]
FORMATS: tuple[str, ...] = get_args(Format)
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Cue:
    start_ms: int
    end_ms: int
    speaker: str | None
    text: str


def speaker_of(final: p.FinalResult) -> str | None:
    data = final.data
    if data.speakers is not None and data.speakers.details:
        return max(data.speakers.details, key=lambda d: d.speaking_time).id  # max keeps the first of ties
    voices = Counter(w.speaker for w in data.words if w.speaker)
    return voices.most_common(1)[0][0] if voices else None


def cues(finals: Sequence[p.FinalResult]) -> list[Cue]:
    out: list[Cue] = []
    last_end = 0
    for final in sorted(finals, key=lambda f: f.seq):
        text = " ".join(final.data.text.split()).replace("-->", "->")  # one line; "-->" would end a cue's text
        if not text:
            continue
        start = max(round(final.data.audio.start * 1000), last_end)
        end = max(round(final.data.audio.end * 1000), start + 1)
        out.append(Cue(start, end, speaker_of(final), text))
        last_end = end
    return out


def _clock(ms: int, sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _labelled(cue: Cue) -> str:
    return f"[{cue.speaker}] {cue.text}" if cue.speaker else cue.text


def to_srt(finals: Sequence[p.FinalResult]) -> str:
    blocks = [
        f"{i}\n{_clock(c.start_ms, ',')} --> {_clock(c.end_ms, ',')}\n{_labelled(c)}\n"
        for i, c in enumerate(cues(finals), 1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(finals: Sequence[p.FinalResult]) -> str:
    blocks = ["WEBVTT\n"]
    for i, c in enumerate(cues(finals), 1):
        text = _vtt_escape(c.text)
        if c.speaker:
            text = f"<v {_vtt_escape(c.speaker)}>{text}"
        blocks.append(f"{i}\n{_clock(c.start_ms, '.')} --> {_clock(c.end_ms, '.')}\n{text}\n")
    return "\n".join(blocks)


def to_txt(finals: Sequence[p.FinalResult]) -> str:
    return "".join(_labelled(c) + "\n" for c in cues(finals))


def to_json(session: SessionRecord, finals: Sequence[p.FinalResult]) -> str:
    body: dict[str, Any] = {
        "session": {**session.summary(), "options": session.options},
        "finals": [
            {"seq": f.seq, "utterance_id": f.utterance_id, "speaker": speaker_of(f), **f.data.model_dump(mode="json")}
            for f in sorted(finals, key=lambda f: f.seq)
        ],
    }
    return json.dumps(body, ensure_ascii=False)


def render(fmt: Format, session: SessionRecord, finals: Sequence[p.FinalResult]) -> str:
    if fmt == "json":
        return to_json(session, finals)
    if fmt == "txt":
        return to_txt(finals)
    if fmt == "srt":
        return to_srt(finals)
    return to_vtt(finals)
