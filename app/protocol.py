"""Every wire message, as pydantic models.

Client → server messages are JSON text frames on ``/v1/stream/control`` (or on
``/v1/stream/audio`` when a client uses only that socket), each tagged by
``type`` and parsed through one discriminated union (:data:`ClientMessage`);
unknown types and unknown fields are rejected.

Server → client messages are tagged by ``type`` as well (:data:`ServerMessage`).
Result payloads keep the seed's field names (``data.text``, ``data.audio.start`` …).
Times on the wire: ``timestamp`` fields are ISO 8601 (UTC) wall-clock times of the
audio (the stream's ``audio_start`` plus the offset); ``audio_*`` and word
``start``/``end`` fields are seconds from the start of the stream's audio.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from app.errors import InvalidMessage, SttError, SttWarning, UnknownCommand, quote
from app.options import SessionOptions, describe_validation_error
from app.safejson import JsonRejected, parse_json

PROTOCOL_VERSION = "1.0"

#: why an utterance ended (``utterance_end.reason``); the segmenter and the session use these
UtteranceEndReason = Literal["silence", "max_length", "finalize", "stop", "pause", "speaker_change"]
#: why a session ended (``session_ended.reason``)
SessionEndReason = Literal["stopped", "idle_timeout", "max_duration", "error", "shutdown"]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- client → server


#: how far ahead of the server's clock ``audio_start`` may be (clock skew, not the future)
MAX_AUDIO_START_AHEAD = timedelta(days=1)
#: the earliest ``audio_start``: a recording's own time may be old, but not before this
MIN_AUDIO_START = datetime(1970, 1, 1, tzinfo=UTC)


class StartStream(_Msg):
    type: Literal["start_stream"] = "start_stream"
    audio_start: datetime | None = Field(
        None,
        description="wall-clock time of the first audio sample; now when absent; "
        "from 1970 to one day ahead of the server's clock",
    )
    options: SessionOptions = Field(default_factory=SessionOptions)
    last_seq: int | None = Field(
        None, ge=0, le=2**53, description="on reconnect: the last final seq received; later finals are replayed"
    )
    audio_offset_bytes: int | None = Field(
        None,
        ge=0,
        le=2**53,
        description="on reconnect, raw encodings only: the byte offset in the session's audio (counted as "
        "stop_stream.audio_bytes counts) from which the client still has the audio it sent; the session "
        "answers in session_started.audio_offset_bytes where the client sends again from (README 'Resume')",
    )

    @model_validator(mode="after")
    def _resume_fields(self) -> Self:
        if self.audio_offset_bytes is not None and self.last_seq is None:
            raise ValueError("audio_offset_bytes belongs to a resume: send it with last_seq")
        return self

    @field_validator("audio_start")
    @classmethod
    def _audio_start(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        aware = v if v.tzinfo is not None else v.replace(tzinfo=UTC)
        latest = datetime.now(UTC) + MAX_AUDIO_START_AHEAD
        if not MIN_AUDIO_START <= aware <= latest:
            raise ValueError("audio_start must be a time from 1970 up to one day ahead of the server's clock")
        return aware


class StopStream(_Msg):
    type: Literal["stop_stream"] = "stop_stream"
    audio_end: datetime | None = Field(None, description="wall-clock time of the last audio sample (informational)")
    audio_bytes: int | None = Field(
        None,
        ge=0,
        le=2**53,  # bounded like last_seq: the number is quoted back in the audio_missing warning
        description="bytes of audio sent on the audio socket in all; the server waits (up to limits.stop_wait_s) "
        "until it has received them all before the flush, since the two sockets are not ordered with each other",
    )


class PauseStream(_Msg):
    type: Literal["pause_stream"] = "pause_stream"


class ResumeStream(_Msg):
    type: Literal["resume_stream"] = "resume_stream"


class Configure(_Msg):
    type: Literal["configure"] = "configure"
    options: dict[str, Any] = Field(description="a partial SessionOptions; merged into the current options")


class Finalize(_Msg):
    type: Literal["finalize"] = "finalize"


class KeepAlive(_Msg):
    type: Literal["keep_alive"] = "keep_alive"


ClientMessage = Annotated[
    StartStream | StopStream | PauseStream | ResumeStream | Configure | Finalize | KeepAlive,
    Field(discriminator="type"),
]
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
#: every command's ``type``, in the union's order
CLIENT_TYPES: tuple[str, ...] = tuple(m.model_fields["type"].default for m in get_args(get_args(ClientMessage)[0]))


def parse_client_message(raw: str | bytes | dict[str, Any]) -> ClientMessage:
    """Parse one client message; raise :class:`InvalidMessage` or :class:`UnknownCommand`."""
    if isinstance(raw, str | bytes):
        try:
            data = parse_json(raw)
        except JsonRejected as exc:
            raise InvalidMessage(f"message is {exc}" if "nested" in str(exc) else "message is not valid JSON") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise InvalidMessage("message must be a JSON object with a 'type' field")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise InvalidMessage("message has no 'type' field")
    if kind not in CLIENT_TYPES:
        raise UnknownCommand(f"unknown command {quote(kind, 40)}; expected one of {', '.join(CLIENT_TYPES)}")
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid {kind}: {describe_validation_error(exc)}") from exc


# --------------------------------------------------------------------------- result payloads


class Word(_Msg):
    word: str
    start: float = Field(description="seconds from stream start")
    end: float
    confidence: float = Field(ge=0.0, le=1.0)
    stable: bool | None = Field(None, description="partials: confirmed by two consecutive hypotheses")
    speaker: str | None = None


class PartialData(_Msg):
    text: str
    confidence: float
    timestamp: datetime
    is_final: Literal[False] = False
    audio_start: float
    audio_current: float
    speaker: str | None = None
    wake_word_detected: bool = False
    stable_text: str = Field("", description="prefix confirmed by LocalAgreement-2; it will not change")
    words: list[Word] = Field(default_factory=list)
    language: str | None = Field(None, description="the language the text is in")
    language_probability: float | None = Field(
        None, description="the model's probability for language, when it detected it on this audio"
    )


class AudioSpan(_Msg):
    start: float
    end: float
    duration: float


class SpeakerSegment(_Msg):
    start: float
    end: float


class SpeakerDetail(_Msg):
    id: str
    speaking_time: float
    segments: list[SpeakerSegment]


class Speakers(_Msg):
    count: int
    details: list[SpeakerDetail]


class SentimentScore(_Msg):
    label: Literal["positive", "negative", "neutral"]
    score: float


class SentenceSentiment(_Msg):
    text: str
    sentiment: Literal["positive", "negative", "neutral"]
    score: float


class Sentiment(_Msg):
    overall: SentimentScore
    by_sentence: list[SentenceSentiment] = Field(default_factory=list)


class Topic(_Msg):
    topic: str
    confidence: float
    mentions: list[str] = Field(default_factory=list)


class Analysis(_Msg):
    sentiment: Sentiment | None = None
    topics: list[Topic] | None = None


class Profanity(_Msg):
    detected: bool = False
    filtered_words: list[str] = Field(default_factory=list)


class Filters(_Msg):
    profanity: Profanity = Field(default_factory=Profanity)


class FinalData(_Msg):
    text: str
    is_final: Literal[True] = True
    confidence: float
    audio: AudioSpan
    timestamp: datetime
    speakers: Speakers | None = None
    analysis: Analysis = Field(default_factory=Analysis)
    filters: Filters = Field(default_factory=Filters)
    wake_word_detected: bool = False
    words: list[Word] = Field(default_factory=list)
    transcription_time: float | None = Field(
        None, description="seconds the main model took; with print_transcription_time"
    )
    language: str | None = Field(
        None, description="the spoken language (the text's own, except with task translate: English)"
    )
    language_probability: float | None = Field(
        None, description="the model's probability for language, when it detected it on this utterance"
    )


# --------------------------------------------------------------------------- server → client


class _ServerMsg(_Msg):
    session_id: str


class AudioFormat(_Msg):
    sample_rate: int
    encoding: str
    channels: int


class SessionStarted(_ServerMsg):
    type: Literal["session_started"] = "session_started"
    protocol_version: str = PROTOCOL_VERSION
    resumed: bool = False
    audio: AudioFormat
    options: SessionOptions
    audio_offset_bytes: int | None = Field(
        None,
        description="on a resume that named audio_offset_bytes: the byte offset from which to send the audio "
        "again (the session has what is before it); null when it takes no more audio (it is ending)",
    )


class SpeechStarted(_ServerMsg):
    type: Literal["speech_started"] = "speech_started"
    utterance_id: int
    audio_start: float
    timestamp: datetime


class PartialResult(_ServerMsg):
    type: Literal["partial_result"] = "partial_result"
    utterance_id: int
    data: PartialData


class FinalResult(_ServerMsg):
    type: Literal["final_result"] = "final_result"
    utterance_id: int
    seq: int = Field(description="1, 2, 3 … per session; resume with the last seq received")
    data: FinalData


class UtteranceEnd(_ServerMsg):
    type: Literal["utterance_end"] = "utterance_end"
    utterance_id: int
    audio_end: float
    reason: UtteranceEndReason


class SessionEnded(_ServerMsg):
    type: Literal["session_ended"] = "session_ended"
    reason: SessionEndReason
    audio_duration: float
    finals: int


class WordSpeaker(_Msg):
    index: int = Field(ge=0, description="the word's position in the final's words")
    speaker: str


class RevisedFinal(_Msg):
    seq: int
    utterance_id: int
    speakers: Speakers = Field(description="the final's speakers, as they now are")
    words: list[WordSpeaker] = Field(description="the words whose speaker changed, with their new speaker")


class SpeakerRevision(_ServerMsg):
    """Later speech showed that earlier finals' speakers were wrong (two labels that are one voice,
    a turn that fits another speaker better): their new labels. Apply it to the finals it names."""

    type: Literal["speaker_revision"] = "speaker_revision"
    revision: int = Field(ge=1, description="1, 2, 3 … per session")
    after_seq: int = Field(ge=0, description="the seq of the last final sent before this revision")
    finals: list[RevisedFinal]

    def apply(self, final: FinalResult) -> FinalResult:
        """``final`` with this revision's labels, when the revision names it; else ``final`` itself."""
        revised = next((f for f in self.finals if f.seq == final.seq), None)
        if revised is None or final.session_id != self.session_id:
            return final
        words = list(final.data.words)
        for change in revised.words:
            if change.index < len(words):
                words[change.index] = words[change.index].model_copy(update={"speaker": change.speaker})
        data = final.data.model_copy(update={"speakers": revised.speakers, "words": words})
        return final.model_copy(update={"data": data})


class Warning_(_ServerMsg):
    type: Literal["warning"] = "warning"
    code: str
    message: str

    @classmethod
    def of(cls, session_id: str, warning: SttWarning) -> Self:
        return cls(session_id=session_id, code=warning.code, message=warning.message)


class Error(_ServerMsg):
    type: Literal["error"] = "error"
    code: str
    message: str
    fatal: bool = False

    @classmethod
    def of(cls, session_id: str, error: SttError, *, fatal: bool | None = None) -> Self:
        """The message for ``error``; ``fatal`` defaults to the error's own (a close follows it)."""
        return cls(
            session_id=session_id, code=error.code, message=error.message, fatal=error.fatal if fatal is None else fatal
        )


ServerMessage = Annotated[
    SessionStarted
    | SpeechStarted
    | PartialResult
    | FinalResult
    | UtteranceEnd
    | SpeakerRevision
    | SessionEnded
    | Warning_
    | Error,
    Field(discriminator="type"),
]
server_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def parse_server_message(raw: str | bytes | dict[str, Any]) -> ServerMessage:
    if isinstance(raw, str | bytes):
        return server_adapter.validate_json(raw)
    return server_adapter.validate_python(raw)


def json_schema() -> dict[str, Any]:
    """The protocol's JSON Schema (client and server messages); exported to ``schema/protocol.json``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Real-time STT streaming protocol {PROTOCOL_VERSION}",
        "client_message": _client_adapter.json_schema(),
        "server_message": server_adapter.json_schema(),
    }
