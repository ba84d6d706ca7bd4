"""Deepgram's wire shapes (``/v1/listen``): its query parameters as :class:`~app.compat.options.Wanted`,
and this service's results as its ``Results``, ``Metadata``, ``SpeechStarted``, ``UtteranceEnd``
and pre-recorded response. Pure functions over the protocol models; field names follow the
Deepgram SDK's own types (``ListenV1Results`` …, ``ListenV1Response``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app import protocol as p
from app.compat.common import Query
from app.compat.options import Wanted
from app.compat.text import model_uuid, plain_text, plain_word, punctuated, speaker_index
from app.errors import ConfigError

CHANNEL = [0, 1]  # channel 0 of 1: a stereo stream is mixed to one channel
ENCODINGS = {"linear16": "pcm_s16le", "mulaw": "pcm_mulaw", "alaw": "pcm_alaw", "opus": "ogg", "ogg-opus": "ogg"}
RAW = ("pcm_s16le", "pcm_mulaw", "pcm_alaw")
#: parameters whose feature this server lacks and whose absence would change what a caller gets
#: (so they are refused, not ignored)
REFUSED = {
    "callback": "callbacks need network access, which this server does not have; read the response instead",
    "redact": "redaction is not available on this server",
    "replace": "find-and-replace is not available on this server",
    "multichannel": "multichannel transcription is not available; send one channel (or two, mixed down)",
}


@dataclass(frozen=True, slots=True)
class Listen:
    """The parameters that shape Deepgram's messages (the session options get the rest)."""

    model: str
    punctuate: bool = False
    interim_results: bool = False
    endpointing: bool = True
    utterance_end: bool = False
    vad_events: bool = False
    diarize: bool = False
    utterances: bool = False


def parse(query: Query, *, live: bool) -> tuple[Listen, Wanted]:
    """Raises :class:`ConfigError` with Deepgram-style wording for a bad or refused parameter."""
    for name, why in REFUSED.items():
        if query.text(name, 2000) not in (None, "", "false"):
            raise ConfigError(f"{name}: {why}")
    encoding = query.text("encoding", 20)
    if encoding is not None and encoding not in ENCODINGS:
        raise ConfigError(
            f"encoding {encoding!r} is not supported; use linear16, mulaw, alaw, opus, or omit it for wav/ogg/mp3"
        )
    target = ENCODINGS.get(encoding) if encoding else None
    rate = query.integer("sample_rate", 8000, 48000)
    if target in RAW and rate is None and live:
        raise ConfigError("sample_rate is required with encoding linear16, mulaw or alaw")
    endpointing_raw = query.text("endpointing", 20)
    endpointing = endpointing_raw is None or endpointing_raw.strip().lower() != "false"
    endpoint_ms = query.integer("endpointing", 0, 60000) if endpointing_raw is not None and endpointing else None
    utterance_end_ms = query.integer("utterance_end_ms", 0, 60000)
    silence_ms = endpoint_ms if endpoint_ms is not None else utterance_end_ms
    smart = bool(query.flag("smart_format"))
    keyterms = [*query.many("keyterm"), *(k.split(":")[0] for k in query.many("keywords"))]
    diarize = bool(query.flag("diarize")) or query.text("diarize_model", 20) is not None
    listen = Listen(
        model=query.text("model", 100) or "base",
        punctuate=bool(query.flag("punctuate")) or smart,
        interim_results=bool(query.flag("interim_results")),
        endpointing=endpointing,
        utterance_end=utterance_end_ms is not None,
        vad_events=bool(query.flag("vad_events")),
        diarize=diarize,
        utterances=bool(query.flag("utterances")),
    )
    split = query.number("utt_split", 0.1, 5.0)  # pre-recorded: the pause between utterances
    wanted = Wanted(
        encoding=target,
        sample_rate=rate if target in RAW else None,
        channels=query.integer("channels", 1, 2),
        language=query.text("language", 35),
        keyterms=keyterms,
        numerals=query.flag("numerals") or (True if smart else None),
        interim_results=listen.interim_results if live else None,
        end_silence_s=silence_ms / 1000 if silence_ms is not None else split,
        diarize=diarize or None,
        profanity_filter=query.flag("profanity_filter"),
    )
    return listen, wanted


@dataclass(frozen=True, slots=True)
class Model:
    """What Deepgram calls model info: this server's main model under the name the caller asked for."""

    requested: str
    served: str

    @property
    def uuid(self) -> str:
        return model_uuid(self.served)

    def info(self) -> dict[str, str]:
        return {"name": self.requested, "version": self.served, "arch": "whisper"}


def words(ws: Sequence[p.Word], listen: Listen, text: str = "") -> list[dict[str, Any]]:
    """Deepgram's words; ``punctuated_word`` as ``text`` (the formatted transcript) writes each."""
    out: list[dict[str, Any]] = []
    written = punctuated([w.word for w in ws], text)
    for w, shown in zip(ws, written, strict=True):
        item: dict[str, Any] = {"word": plain_word(w.word), "start": w.start, "end": w.end, "confidence": w.confidence}
        if listen.punctuate:
            item["punctuated_word"] = shown
        if listen.diarize:
            item["speaker"] = speaker_index(w.speaker) or 0
        out.append(item)
    return out


def transcript(text: str, ws: Sequence[p.Word], listen: Listen) -> str:
    return text if listen.punctuate else plain_text([w.word for w in ws] if ws else text.split())


def results(
    msg: p.PartialResult | p.FinalResult,
    listen: Listen,
    model: Model,
    *,
    speech_final: bool = False,
    from_finalize: bool = False,
) -> dict[str, Any]:
    """A live ``Results`` message for a partial (``is_final`` false) or a final."""
    data = msg.data
    if isinstance(msg, p.PartialResult):
        start, duration, final = msg.data.audio_start, round(msg.data.audio_current - msg.data.audio_start, 3), False
    else:
        start, duration, final = msg.data.audio.start, msg.data.audio.duration, True
    return {
        "type": "Results",
        "channel_index": CHANNEL,
        "duration": duration,
        "start": start,
        "is_final": final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {
            "alternatives": [
                {
                    "transcript": transcript(data.text, data.words, listen),
                    "confidence": data.confidence,
                    "words": words(data.words, listen, data.text),
                }
            ]
        },
        "metadata": {"request_id": msg.session_id, "model_info": model.info(), "model_uuid": model.uuid},
    }


def speech_started(msg: p.SpeechStarted) -> dict[str, Any]:
    return {"type": "SpeechStarted", "channel": CHANNEL, "timestamp": msg.audio_start}


def utterance_end(final: p.FinalResult) -> dict[str, Any]:
    last = final.data.words[-1].end if final.data.words else final.data.audio.end
    return {"type": "UtteranceEnd", "channel": CHANNEL, "last_word_end": last}


def error(variant: str, description: str) -> dict[str, Any]:
    return {"type": "Error", "variant": variant, "description": description}


def metadata(request_id: str, sha256: str, created: datetime, duration: float, model: Model) -> dict[str, Any]:
    """The ``Metadata`` a live stream ends with, and the pre-recorded response's ``metadata``."""
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration": duration,
        "channels": 1,
        "models": [model.uuid],
        "model_info": {model.uuid: model.info()},
    }


def prerecorded(
    request_id: str,
    finals: Sequence[p.FinalResult],
    *,
    sha256: str,
    created: datetime,
    duration: float,
    listen: Listen,
    model: Model,
) -> dict[str, Any]:
    """Deepgram's pre-recorded response (``ListenV1Response``): one channel, one alternative;
    ``utterances`` when asked for (a final per utterance, split where the speaker changes)."""
    meta = metadata(request_id, sha256, created, duration, model)
    del meta["type"]
    all_words = [w for f in finals for w in f.data.words]
    text = " ".join(transcript(f.data.text, f.data.words, listen) for f in finals)
    confidence = round(sum(w.confidence for w in all_words) / len(all_words), 4) if all_words else 0.0
    listed = [item for f in finals for item in words(f.data.words, listen, f.data.text)]
    body: dict[str, Any] = {
        "metadata": meta,
        "results": {"channels": [{"alternatives": [{"transcript": text, "confidence": confidence, "words": listed}]}]},
    }
    if listen.utterances:
        body["results"]["utterances"] = [
            utterance(request_id, n, turn, listen) for n, turn in enumerate(_turns(finals, listen.diarize))
        ]
    return body


def _turns(finals: Sequence[p.FinalResult], by_speaker: bool) -> list[list[p.Word]]:
    turns: list[list[p.Word]] = []
    for final in finals:
        current: list[p.Word] = []
        for w in final.data.words:
            if current and by_speaker and w.speaker != current[-1].speaker:
                turns.append(current)
                current = []
            current.append(w)
        if current:
            turns.append(current)
    return turns


def utterance(request_id: str, n: int, ws: list[p.Word], listen: Listen) -> dict[str, Any]:
    return {
        "start": ws[0].start,
        "end": ws[-1].end,
        "confidence": round(sum(w.confidence for w in ws) / len(ws), 4),
        "channel": 0,
        "transcript": transcript(" ".join(w.word for w in ws), ws, listen),
        "words": words(ws, listen),
        "speaker": (speaker_index(ws[0].speaker) or 0) if listen.diarize else 0,
        "id": f"{request_id}-{n}",
    }


def http_error(status: int, message: str, request_id: str) -> dict[str, str]:
    """Deepgram's REST error body (``err_code``, ``err_msg``, ``request_id``)."""
    code = {400: "Bad Request", 401: "INVALID_AUTH", 403: "INSUFFICIENT_PERMISSIONS", 413: "PAYLOAD_TOO_LARGE"}
    code |= {429: "TOO_MANY_REQUESTS", 503: "SERVICE_UNAVAILABLE"}
    return {"err_code": code.get(status, "INTERNAL_SERVER_ERROR"), "err_msg": message, "request_id": request_id}
