"""What each ``stt`` subcommand does (the argument parsing lives in :mod:`app.client.cli`, the
flags' options in :mod:`app.client.flags`, the exit codes in :mod:`app.client.exits`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Any, TextIO

from app import protocol as p
from app.client.audio import chunk_bytes, file_pcm, paced, split_frames
from app.client.client import SttClient, run_both
from app.client.errors import SttClientError
from app.client.exits import EXIT_OK, EXIT_SERVER, UsageError
from app.client.flags import session_options
from app.client.render import JsonRenderer, TextRenderer
from app.client.resume import ResumeEvent, ResumePolicy
from app.client.stream import SttStream
from app.client.urls import http_url

#: ``--fast``: the server refuses audio beyond 4x real time after a 10 s allowance (limits.max_realtime_factor,
#: realtime_burst_s); staying under both keeps every frame
FAST_SPEED = 3.5
FAST_BURST_S = 8.0


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    commands: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], Any]] = {
        "stream": stream,
        "token": token,
        "sessions": sessions,
        "transcript": transcript,
    }
    code: int = await commands[args.command](args, out, err)
    return code


def make_client(args: argparse.Namespace) -> SttClient:
    try:
        return SttClient(
            args.url, api_key=args.api_key, token=args.token, client_id=args.client_id, open_timeout_s=args.timeout
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


# --------------------------------------------------------------------------- stream


class _Stopper:
    """Ctrl-C once: stop sending, flush, print the last finals. Twice: give up at once."""

    def __init__(self, err: TextIO, on_stop: Callable[[], None]) -> None:
        self.requested = asyncio.Event()
        self._err = err
        self._on_stop = on_stop
        self._task = asyncio.current_task()

    def __call__(self) -> None:
        if self.requested.is_set():
            if self._task is not None:
                self._task.cancel()
            return
        self.requested.set()
        self._on_stop()
        self._err.write("\nstt: stopping; waiting for the last finals (Ctrl-C again to quit)\n")
        self._err.flush()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals (Windows)
            yield
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)


async def _until(chunks: AsyncIterable[bytes], stop: asyncio.Event) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if stop.is_set():
            return
        yield chunk


async def _file_chunks(args: argparse.Namespace, s: SttStream) -> AsyncIterator[bytes]:
    fmt = s.audio_format
    pcm = await asyncio.to_thread(file_pcm, args.file, fmt)
    frames = split_frames(pcm, chunk_bytes(fmt, args.chunk_ms))
    speed, burst_s = (FAST_SPEED, FAST_BURST_S) if args.fast else (args.speed, 0.0)
    async for chunk in paced(frames, args.chunk_ms / 1000.0 / speed, burst=int(burst_s * 1000 / args.chunk_ms)):
        yield chunk


async def stream(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    options = session_options(args)
    partials = options.features.interim_results
    render: JsonRenderer | TextRenderer
    if args.json:
        render = JsonRenderer(out, partials=partials)
    else:
        render = TextRenderer(out, err, partials=partials, colour=out.isatty() and "NO_COLOR" not in os.environ)
    mic = None
    if args.mic:
        from app.client.mic import Microphone

        mic = Microphone(chunk_ms=args.chunk_ms, device=_device(args.device))
    stopper = _Stopper(err, mic.stop if mic is not None else lambda: None)
    errors = 0
    client = make_client(args)
    try:
        with stopper.installed():
            policy = ResumePolicy(
                enabled=not args.no_resume, buffer_s=args.resume_buffer, timeout_s=args.resume_timeout
            )
            async with client.stream(
                options, session_id=args.session_id, resume=policy, on_resume=resume_notes(err)
            ) as s:

                async def send() -> None:
                    chunks = mic if mic is not None else _file_chunks(args, s)
                    await s.send_iter(_until(chunks, stopper.requested))
                    await s.stop()

                async def receive() -> None:
                    nonlocal errors
                    async for msg in s:
                        errors += isinstance(msg, p.Error)
                        render(msg)

                await run_both(send(), receive())
    finally:
        render.close()
    if mic is not None and mic.dropped_chunks:
        err.write(f"stt: {mic.dropped_chunks} microphone chunks dropped (the client fell behind)\n")
    return EXIT_SERVER if errors else EXIT_OK


def resume_notes(err: TextIO) -> Callable[[ResumeEvent], None]:
    """What ``stt stream`` says on stderr when the connection drops and the stream resumes."""

    def note(event: ResumeEvent) -> None:
        if event.kind == "lost" and event.error is not None:
            err.write(f"\nstt: {event.error.message}; resuming\n")
        elif event.kind == "resumed":
            tries = f"{event.tries} tries" if event.tries != 1 else "1 try"
            again = f"{event.resent_bytes} audio bytes sent again"
            err.write(f"stt: resumed after {event.elapsed_s:.1f} s ({tries}); {again}\n")
        elif event.kind == "failed":
            err.write(f"stt: gave up resuming after {event.elapsed_s:.1f} s ({event.tries} tries)\n")
        err.flush()

    return note


def _device(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.isdigit() else value


# --------------------------------------------------------------------------- REST


async def token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    jwt, expires_in = await make_client(args).mint_token(session_id=args.session_id, ttl_s=args.ttl)
    if args.page:
        # a fragment never reaches the server, its logs or a Referer header; the page reads it, then drops it
        out.write(f"{http_url(args.url, '/')}#token={jwt}\n")
        err.write(f"stt: open this URL in a browser; the token expires in {expires_in} s\n")
    else:
        out.write(jwt + "\n")
        err.write(f"stt: expires in {expires_in} s\n")
    return EXIT_OK


async def sessions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    client = make_client(args)
    rows: list[dict[str, Any]] = []
    cursor = args.cursor
    while True:
        try:
            page = await client.sessions(limit=args.limit, cursor=cursor, since=args.since, until=args.until)
        except SttClientError as exc:
            raise _missing_endpoint(exc, "/v1/sessions") from exc
        if not isinstance(page, dict) or not isinstance(page.get("sessions"), list):
            raise SttClientError("GET /v1/sessions: the answer has no 'sessions' list", code="invalid_response")
        rows += page["sessions"]
        cursor = page.get("next_cursor")
        if not (args.all and cursor):
            break
    if args.json:
        out.write(json.dumps({"sessions": rows, "next_cursor": cursor}, indent=2) + "\n")
    elif rows:
        out.write(format_table(rows))
    else:
        err.write("stt: no stored sessions\n")
    if cursor and not args.json:
        err.write(f"stt: more sessions: stt sessions --cursor {cursor} (or --all)\n")
    return EXIT_OK


async def transcript(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        text = await make_client(args).transcript(args.session_id, args.format)
    except SttClientError as exc:
        raise _missing_endpoint(exc, "/v1/sessions/{id}/transcript") from exc
    if args.format == "json":
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    if text and not text.endswith("\n"):
        text += "\n"
    if args.output is not None:
        args.output.write_text(text)
        err.write(f"stt: wrote {args.output}\n")
    else:
        out.write(text)
    return EXIT_OK


def _missing_endpoint(exc: SttClientError, path: str) -> SttClientError:
    # Starlette's own 404 for an unknown route is a bare "Not Found"; the service's 404s carry a code
    if exc.http_status in (404, 405) and exc.message.strip().lower() in ("not found", "method not allowed"):
        return SttClientError(
            f"this server does not serve {path} (an older server, or transcript storage is not deployed)",
            code="not_found",
            http_status=exc.http_status,
        )
    return exc


_COLUMNS = ("session_id", "status", "end_reason", "started_at", "audio_duration", "finals")


def format_table(rows: list[dict[str, Any]]) -> str:
    """The sessions as aligned columns (the known ones each row may have; a newer server's extras are left out)."""
    cols = [c for c in _COLUMNS if any(c in r for r in rows)] or sorted(rows[0])[:6]
    cells = [[_cell(r.get(k)) for k in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
