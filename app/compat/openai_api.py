"""OpenAI's audio API over this service: ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``.

Multipart uploads (``file``, ``model``, ``language``, ``prompt``, ``response_format``,
``temperature``, ``timestamp_granularities[]``, ``stream``) with ``Authorization: Bearer <key>``,
transcribed through the main model in batches (:mod:`app.batch`) and stored as a session (its id is
the ``x-request-id`` header). ``response_format``: ``json``, ``text``, ``srt``, ``verbose_json``
(segments, and words with ``timestamp_granularities[]=word``), ``vtt``. ``stream=true`` answers with
server-sent ``transcript.text.delta`` events (one an utterance, in order, as each is ready) and a
``transcript.text.done``. Errors are OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from app import protocol as p
from app.batch.job import BatchRequest, BatchResult, BatchTranscriber, Prepared
from app.compat.common import authenticate, scheme_credential
from app.compat.context import Compat
from app.compat.options import Wanted, session_options
from app.errors import AudioError, AuthError, ConfigError, InvalidRequest, PayloadTooLarge, SttError
from app.options import SessionOptions
from app.store.export import to_srt, to_vtt

log = logging.getLogger(__name__)

FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese"}
LANGUAGES |= {"nl": "dutch", "ja": "japanese", "ko": "korean", "zh": "chinese", "ru": "russian", "pl": "polish"}


class OpenAIError(Exception):
    """An error in OpenAI's shape: HTTP status, message, type, param, code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        openai_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.openai_code = status, message, kind, param, openai_code

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.openai_code}}
        return JSONResponse(body, status_code=self.status)


def _from(exc: SttError) -> OpenAIError:
    if isinstance(exc, AuthError):
        return OpenAIError(401, exc.message, openai_code="invalid_api_key")
    if isinstance(exc, PayloadTooLarge):
        return OpenAIError(413, exc.message, param="file", openai_code="file_too_large")
    if isinstance(exc, AudioError):
        return OpenAIError(400, exc.message, param="file", openai_code="invalid_file")
    if isinstance(exc, ConfigError | InvalidRequest):
        return OpenAIError(400, exc.message)
    if exc.close_code == 4429:
        return OpenAIError(429, exc.message, kind="rate_limit_error", openai_code="rate_limit_exceeded")
    if exc.close_code == 4503:
        return OpenAIError(503, exc.message, kind="server_error")
    return OpenAIError(500, "the server had an error while processing your request", kind="server_error")


async def transcriptions(request: Request, compat: Compat) -> Response:
    return await _handle(request, compat, translate=False)


async def translations(request: Request, compat: Compat) -> Response:
    return await _handle(request, compat, translate=True)


async def _handle(request: Request, compat: Compat, *, translate: bool) -> Response:
    form: FormData | None = None
    try:
        principal = authenticate(
            compat.gate, request, scheme_credential(request.headers.get("authorization"), ("bearer",))
        )
        batch = compat.prerecorded()
        form = await _form(request, compat.settings.prerecorded.max_upload_bytes)
        fmt, stream, grains, options = _parameters(form, compat, translate=translate)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise OpenAIError(400, "a 'file' part with the audio is required", param="file")
        data = await upload.read()
        job = await batch.prepare(BatchRequest(principal.client_id, data, options))
    except OpenAIError as exc:
        return exc.response()
    except SttError as exc:
        return _from(exc).response()
    finally:
        if form is not None:
            await form.close()  # the upload's temporary file
    if stream:
        return StreamingResponse(_events(batch, job), media_type="text/event-stream")
    try:
        result = await batch.run(job)
    except SttError as exc:
        log.warning("openai transcription failed: %s", exc.code)
        return _from(exc).response()
    return _render(result, fmt, grains, task="translate" if translate else "transcribe", language=options.language)


def _parameters(form: FormData, compat: Compat, *, translate: bool) -> tuple[str, bool, set[str], SessionOptions]:
    if not isinstance(form.get("model"), str) or not str(form.get("model")).strip():
        raise OpenAIError(400, "'model' is required (any name: this server uses its own model)", param="model")
    fmt = _field(form, "response_format") or "json"
    if fmt not in FORMATS:
        raise OpenAIError(400, f"response_format must be one of {', '.join(FORMATS)}", param="response_format")
    stream = (_field(form, "stream") or "false").lower() == "true"
    if stream and fmt not in ("json", "text"):
        raise OpenAIError(400, "stream=true works with response_format json or text", param="stream")
    _temperature(_field(form, "temperature"))
    grains = {str(g) for g in (*form.getlist("timestamp_granularities[]"), *form.getlist("timestamp_granularities"))}
    if not grains <= {"word", "segment"}:
        raise OpenAIError(400, "timestamp_granularities[] takes word and segment", param="timestamp_granularities")
    # a translation detects the spoken language (the endpoint has no language field)
    language = "auto" if translate else _field(form, "language")
    wanted = Wanted(language=language, prompt=_field(form, "prompt"), translate=translate)
    return fmt, stream, grains, session_options(compat.settings.default_options, wanted)


async def _form(request: Request, limit: int) -> FormData:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise OpenAIError(400, "send the request as multipart/form-data with a 'file' part")

    async def capped() -> AsyncGenerator[bytes, None]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
            yield chunk

    try:
        return await MultiPartParser(request.headers, capped(), max_files=1, max_fields=50).parse()
    except MultiPartException as exc:
        raise OpenAIError(400, f"the multipart body could not be read: {exc.message[:100]}") from None


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _temperature(raw: str | None) -> None:
    """Checked, then ignored: decoding is the server's (``main_model.temperature``)."""
    if raw is None:
        return
    try:
        value = float(raw)
    except ValueError:
        raise OpenAIError(400, "temperature must be a number from 0 to 1", param="temperature") from None
    if not 0.0 <= value <= 1.0:
        raise OpenAIError(400, "temperature must be a number from 0 to 1", param="temperature")


async def _events(batch: BatchTranscriber, job: Prepared) -> AsyncIterator[str]:
    """``transcript.text.delta`` per utterance as it is ready, then ``transcript.text.done``."""
    queue: asyncio.Queue[p.FinalResult | None] = asyncio.Queue()

    async def on_final(final: p.FinalResult) -> None:
        await queue.put(final)

    async def work() -> BatchResult:
        try:
            return await batch.run(job, on_final=on_final)
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    texts: list[str] = []
    try:
        while (final := await queue.get()) is not None:
            delta = final.data.text if not texts else " " + final.data.text
            texts.append(final.data.text)
            yield _sse({"type": "transcript.text.delta", "delta": delta})
        await task
    except SttError as exc:
        error = _from(exc)
        yield _sse(
            {"type": "error", "error": {"message": error.message, "type": error.kind, "code": error.openai_code}}
        )
        return
    finally:
        task.cancel()
    yield _sse({"type": "transcript.text.done", "text": " ".join(texts)})


def _sse(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body)}\n\n"


def _render(result: BatchResult, fmt: str, grains: set[str], *, task: str, language: str) -> Response:
    finals = result.finals
    text = " ".join(f.data.text for f in finals)
    headers = {"x-request-id": result.session_id}
    if fmt == "text":
        return PlainTextResponse(text + "\n", headers=headers)
    if fmt == "srt":
        return PlainTextResponse(to_srt(finals), headers=headers)
    if fmt == "vtt":
        return PlainTextResponse(to_vtt(finals), media_type="text/vtt", headers=headers)
    usage = {"type": "duration", "seconds": math.ceil(result.duration_s)}
    if fmt == "json":
        return JSONResponse({"text": text, "usage": usage}, headers=headers)
    if language == "auto":  # what the main model detected
        language = next((f.data.language for f in finals if f.data.language), language)
    body: dict[str, Any] = {
        "task": task,
        "language": "english" if task == "translate" else LANGUAGES.get(language, language),
        "duration": result.duration_s,
        "text": text,
    }
    if "segment" in grains or not grains:
        body["segments"] = segments(finals)
    if "word" in grains:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for f in finals for w in f.data.words]
    body["usage"] = usage
    return JSONResponse(body, headers=headers)


def segments(finals: Sequence[p.FinalResult]) -> list[dict[str, Any]]:
    """Whisper's segments, one a final; ``avg_logprob`` is the log of the words' mean probability,
    ``compression_ratio`` Whisper's own measure of the text; token ids are not kept (``[]``)."""
    out = []
    for i, final in enumerate(finals):
        data = final.data
        raw = data.text.encode()
        out.append(
            {
                "id": i,
                "seek": round(data.audio.start * 100),
                "start": data.audio.start,
                "end": data.audio.end,
                "text": " " + data.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": round(math.log(max(data.confidence, 1e-6)), 4),
                "compression_ratio": round(len(raw) / max(1, len(zlib.compress(raw))), 4),
                "no_speech_prob": 0.0,
            }
        )
    return out
