"""AssemblyAI Universal-Streaming v3's wire shapes (``/v3/ws``): its connection parameters as
:class:`~app.compat.options.Wanted`, and this service's messages as its ``Begin``, ``Turn``,
``Termination``, ``Warning`` and ``Error``. Field names follow the AssemblyAI SDK's own models
(``assemblyai.streaming.v3.models``). Times are integer milliseconds there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app import protocol as p
from app.compat.common import Query, json_list
from app.compat.options import Wanted
from app.compat.text import plain_word, punctuated, speaker_index
from app.errors import AudioTooFast, ConfigError, FrameTooLarge, InvalidMessage, MisalignedAudio, UndecodableAudio

ENCODINGS = {"pcm_s16le": "pcm_s16le", "pcm_mulaw": "pcm_mulaw", "ogg_opus": "ogg"}

#: AssemblyAI's close codes
SERVER_ERROR, INVALID_INPUT, TOO_FAST, EXPIRED, TOO_MANY, UNAUTHORIZED = 3005, 3006, 3007, 3008, 3009, 1008
TRY_LATER = 1013  # "Temporary server condition forced blocking client's request"
#: core error codes (non-fatal) → the Warning code they are reported with
WARNING_CODES = {
    AudioTooFast.code: TOO_FAST,
    UndecodableAudio.code: INVALID_INPUT,
    MisalignedAudio.code: INVALID_INPUT,
    FrameTooLarge.code: INVALID_INPUT,
    InvalidMessage.code: INVALID_INPUT,
}


@dataclass(frozen=True, slots=True)
class Streaming:
    """The parameters that shape AssemblyAI's messages (the session options get the rest)."""

    format_turns: bool = False
    speaker_labels: bool = False
    inactivity_timeout_s: float | None = None


def parse(query: Query) -> tuple[Streaming, Wanted]:
    encoding = query.text("encoding", 20) or "pcm_s16le"
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding {encoding[:20]!r} is not supported; use pcm_s16le, pcm_mulaw or ogg_opus")
    target = ENCODINGS[encoding]
    rate = query.integer("sample_rate", 8000, 48000)
    if rate is None and target != "ogg":
        raise ConfigError("sample_rate is required for pcm_s16le and pcm_mulaw")
    query.number("end_of_turn_confidence_threshold", 0.0, 1.0)  # checked, then ignored: no semantic model
    query.integer("min_end_of_turn_silence_when_confident", 0, 60000)
    query.integer("min_turn_silence", 0, 60000)
    max_silence = query.integer("max_turn_silence", 0, 60000)
    keyterms = json_list("keyterms_prompt", query.text("keyterms_prompt", 20000))
    speaker_labels = bool(query.flag("speaker_labels"))
    language = query.text("language_code", 35)
    codes = json_list("language_codes", query.text("language_codes", 2000))
    streaming = Streaming(
        format_turns=bool(query.flag("format_turns")),
        speaker_labels=speaker_labels,
        inactivity_timeout_s=query.number("inactivity_timeout", 5, 3600),
    )
    wanted = Wanted(
        encoding=target,
        sample_rate=rate if target != "ogg" else None,
        language=language or (codes[0] if len(codes) == 1 else None),
        prompt=query.text("prompt", 2000),
        keyterms=keyterms,
        end_silence_s=max_silence / 1000 if max_silence is not None else None,
        diarize=speaker_labels or None,
        profanity_filter=query.flag("filter_profanity"),
    )
    return streaming, wanted


def update(body: dict[str, Any]) -> dict[str, Any]:
    """An ``UpdateConfiguration`` as a session options patch (what has no equivalent is ignored)."""
    patch: dict[str, Any] = {}
    silence = body.get("max_turn_silence")
    if isinstance(silence, int | float) and not isinstance(silence, bool):
        # clamped in milliseconds first: an int of hundreds of digits cannot become a float
        value = min(5.0, max(0.1, min(max(silence, 0), 5000) / 1000))
        patch["vad"] = {"post_speech_silence": value, "split_pause": min(0.2, value)}
    return patch


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def speaker(label: str | None) -> str | None:
    index = speaker_index(label)
    return chr(ord("A") + index) if index is not None and index < 26 else label


def turn_words(ws: Sequence[p.Word], *, final: bool, formatted: str | None, labels: bool) -> list[dict[str, Any]]:
    """A turn's words; ``formatted``: the formatted turn's text, which its words' ``text`` follow."""
    out = []
    written = punctuated([w.word for w in ws], formatted) if formatted is not None else None
    for i, w in enumerate(ws):
        item: dict[str, Any] = {
            "start": ms(w.start),
            "end": ms(w.end),
            "confidence": w.confidence,
            "text": written[i] if written is not None else plain_word(w.word),
            "word_is_final": final or bool(w.stable),
        }
        if labels:
            item["speaker"] = speaker(w.speaker)
        out.append(item)
    return out


def turn(
    msg: p.PartialResult | p.FinalResult, order: int, streaming: Streaming, *, formatted: bool = False
) -> dict[str, Any]:
    """A ``Turn``: a partial (``end_of_turn`` false; ``transcript`` holds its confirmed words) or the end
    of a turn, unformatted (lower case, no punctuation) or formatted (the final's text)."""
    final = isinstance(msg, p.FinalResult)
    words = msg.data.words
    if final:
        text = msg.data.text if formatted else " ".join(w for w in (plain_word(x.word) for x in words) if w)
    else:
        text = " ".join(w for w in (plain_word(x.word) for x in words if x.stable) if w)
    body: dict[str, Any] = {
        "type": "Turn",
        "turn_order": order,
        "turn_is_formatted": formatted,
        "end_of_turn": final,
        "transcript": text,
        "end_of_turn_confidence": 1.0 if final else 0.0,
        "words": turn_words(words, final=final, formatted=text if formatted else None, labels=streaming.speaker_labels),
    }
    if streaming.speaker_labels and words:
        body["speaker_label"] = speaker(words[0].speaker)
    return body


def begin(session_id: str, expires_at: int) -> dict[str, Any]:
    return {"type": "Begin", "id": session_id, "expires_at": expires_at}


def termination(audio_s: float, session_s: float) -> dict[str, Any]:
    return {
        "type": "Termination",
        "audio_duration_seconds": round(audio_s),
        "session_duration_seconds": round(session_s),
    }


def warning(code: int, text: str) -> dict[str, Any]:
    return {"type": "Warning", "warning_code": code, "warning": text}


def error(code: int, text: str) -> dict[str, Any]:
    return {"type": "Error", "error_code": code, "error": text}
