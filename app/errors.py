"""The error tree of the service.

Every error a client can see is an :class:`SttError` subclass with a stable wire
``code`` (a snake_case string that never changes once released) and, when the
error ends the connection, a WebSocket ``close_code`` in the 4000 range.

::

    SttError                       base; never sent as is
    ├── ProtocolError              malformed JSON, unknown command or field   (4400 when fatal)
    │   ├── InvalidMessage         code "invalid_message"
    │   ├── UnknownCommand         code "unknown_command"
    │   ├── WrongFrameType         code "wrong_frame_type"
    │   ├── InvalidState           code "invalid_state" (command not allowed now)
    │   └── InvalidRequest         code "invalid_request" (a bad REST path or query parameter; HTTP 400)
    ├── ConfigError                code "invalid_options" (bad session options)
    ├── AudioError                 bad audio input; the frame is dropped, the session lives
    │   ├── FrameTooLarge          code "frame_too_large"
    │   ├── MisalignedAudio        code "misaligned_audio" (odd byte count for PCM16)
    │   ├── UndecodableAudio       code "undecodable_audio"
    │   ├── AudioBeforeStart       code "audio_before_start"
    │   ├── BufferOverflow         code "buffer_overflow"
    │   └── AudioTooFast           code "audio_too_fast"
    ├── AuthError                  close 4401/4403
    │   ├── Unauthenticated        code "unauthenticated"  close 4401
    │   └── Forbidden              code "forbidden"        close 4403
    ├── LimitError                 close 4429
    │   └── TooManySessions        code "too_many_sessions"
    ├── SessionNotFound            code "session_not_found" close 4404
    ├── SessionActive              code "session_active"    HTTP 409 (DELETE of a session still streaming)
    ├── StreamEnded                code "stream_ended"      close 1000 (audio after the session ended)
    ├── Timeout                    idle / max duration
    │   ├── IdleTimeout            code "idle_timeout"      close 4408
    │   └── MaxDurationReached     code "max_duration"      close 4409
    ├── StorageUnavailable         code "storage_unavailable" close 4503, HTTP 503 (transcript store down or off)
    └── InternalError              code "internal_error"    close 4500 (message never carries exception text)

Messages are written for the client: they say what was wrong and what is allowed,
and never include exception text or stack traces.
"""

from __future__ import annotations

from typing import ClassVar


class SttError(Exception):
    code: ClassVar[str] = "error"
    close_code: ClassVar[int] = 4500
    #: fatal errors close the connection with ``close_code``
    fatal: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(SttError):
    code = "invalid_message"
    close_code = 4400


class InvalidMessage(ProtocolError):
    code = "invalid_message"


class UnknownCommand(ProtocolError):
    code = "unknown_command"


class WrongFrameType(ProtocolError):
    code = "wrong_frame_type"


class InvalidState(ProtocolError):
    code = "invalid_state"


class InvalidRequest(ProtocolError):
    code = "invalid_request"


class ConfigError(SttError):
    code = "invalid_options"
    close_code = 4400


class AudioError(SttError):
    code = "invalid_audio"
    close_code = 4400


class FrameTooLarge(AudioError):
    code = "frame_too_large"


class MisalignedAudio(AudioError):
    code = "misaligned_audio"


class UndecodableAudio(AudioError):
    code = "undecodable_audio"


class AudioBeforeStart(AudioError):
    code = "audio_before_start"


class BufferOverflow(AudioError):
    code = "buffer_overflow"


class AudioTooFast(AudioError):
    code = "audio_too_fast"


class AuthError(SttError):
    code = "unauthenticated"
    close_code = 4401
    fatal = True


class Unauthenticated(AuthError):
    code = "unauthenticated"
    close_code = 4401


class Forbidden(AuthError):
    code = "forbidden"
    close_code = 4403


class LimitError(SttError):
    code = "limit_exceeded"
    close_code = 4429
    fatal = True


class TooManySessions(LimitError):
    code = "too_many_sessions"


class SessionNotFound(SttError):
    code = "session_not_found"
    close_code = 4404
    fatal = True


class SessionTimeout(SttError):
    code = "timeout"
    close_code = 4408
    fatal = True


class IdleTimeout(SessionTimeout):
    code = "idle_timeout"
    close_code = 4408


class MaxDurationReached(SessionTimeout):
    code = "max_duration"
    close_code = 4409


class SessionActive(SttError):
    """A REST change to a session that is still streaming (HTTP 409; never a WebSocket close)."""

    code = "session_active"


class StreamEnded(SttError):
    """Audio for a session that has ended: the audio socket closes normally."""

    code = "stream_ended"
    close_code = 1000
    fatal = True


class StorageUnavailable(SttError):
    code = "storage_unavailable"
    close_code = 4503
    fatal = True


class InternalError(SttError):
    code = "internal_error"
    close_code = 4500
    fatal = True

    def __init__(self, message: str = "internal error; the session's finals so far are kept") -> None:
        super().__init__(message)


#: every wire code, for docs and the protocol schema
ALL_ERRORS: tuple[type[SttError], ...] = (
    InvalidMessage,
    UnknownCommand,
    WrongFrameType,
    InvalidState,
    InvalidRequest,
    ConfigError,
    FrameTooLarge,
    MisalignedAudio,
    UndecodableAudio,
    AudioBeforeStart,
    BufferOverflow,
    AudioTooFast,
    Unauthenticated,
    Forbidden,
    TooManySessions,
    SessionNotFound,
    SessionActive,
    IdleTimeout,
    MaxDurationReached,
    StreamEnded,
    StorageUnavailable,
    InternalError,
)
