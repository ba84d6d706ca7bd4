"""``stt``: the service from a terminal.

::

    stt stream talk.wav                 # paced like a microphone: live partials, then each final
    stt stream talk.wav --fast --json   # as fast as the server's pace limit allows, JSON lines
    stt stream --mic --diarize          # the microphone (needs the optional 'sounddevice' package)
    stt token --page                    # a short-lived JWT, or the browser page's URL carrying one
    stt sessions                        # this client's stored sessions
    stt transcript SESSION_ID --format srt

Connection and credentials come from ``--url`` / ``STT_URL`` (default http://127.0.0.1:8000),
``--api-key`` / ``STT_API_KEY`` or ``--token`` / ``STT_TOKEN``.

Exit codes: 0 done; 2 usage (bad arguments or options, no microphone); 3 no connection (refused,
timed out, dropped); 4 authentication refused; 5 any other server error, including a stream that
ended normally but reported errors on the way (dropped frames, a failed utterance); 130 Ctrl-C
twice (once stops the stream cleanly: every utterance still gets its final).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

from app.client import commands
from app.client.errors import SttClientError
from app.client.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, describe, exit_code
from app.client.flags import check_stream_args

DEFAULT_URL = "http://127.0.0.1:8000"
TRANSCRIPT_FORMATS = ("json", "txt", "srt", "vtt")

# --------------------------------------------------------------------------- arguments


def _common(env: dict[str, str]) -> argparse.ArgumentParser:
    """Options every subcommand takes (after its name: ``stt stream --url … FILE``)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--url", default=env.get("STT_URL", DEFAULT_URL), help="service base URL, prefix included")
    group.add_argument("--api-key", default=env.get("STT_API_KEY"), help="API key (env STT_API_KEY)")
    group.add_argument("--token", default=env.get("STT_TOKEN"), help="a JWT instead of an API key (env STT_TOKEN)")
    group.add_argument("--client-id", default=env.get("STT_CLIENT_ID"), help="must match the credential's client")
    group.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a connection (default 10)")
    return common


def _add_session_options(sp: argparse.ArgumentParser) -> None:
    g = sp.add_argument_group("session options (see README 'Session options')")
    g.add_argument("--no-partials", action="store_true", help="finals only (no interim results)")
    g.add_argument("--diarize", action="store_true", help="label speakers")
    g.add_argument("--sentiment", action="store_true", help="sentiment of each final")
    g.add_argument("--topics", action="store_true", help="topics of each final")
    g.add_argument("--topic", action="append", metavar="TOPIC", help="candidate topic (repeat; implies --topics)")
    g.add_argument("--profanity", action="store_true", help="mask profanity")
    g.add_argument("--wake-word", action="append", metavar="PHRASE", help="flag finals with this phrase (repeat)")
    g.add_argument("--post-speech-silence", type=float, metavar="S", help="seconds of silence that end an utterance")
    g.add_argument("--language", help="ISO 639-1 code, or auto: detected (default en)")
    g.add_argument("--translate", action="store_true", help="finals in English, whatever language is spoken")
    g.add_argument("--keyterm", action="append", metavar="TERM", help="a name or term to expect (repeat)")
    g.add_argument("--numerals", action="store_true", help="spelled-out numbers as digits in finals")
    g.add_argument("--prompt", help="initial prompt: names and terms the model should expect")
    g.add_argument("--transcription-time", action="store_true", help="show the main model's time per final")
    g.add_argument("--options", metavar="JSON", help="any session options as JSON, or @file.json; flags win")


def build_parser(env: dict[str, str] | None = None) -> argparse.ArgumentParser:
    env = dict(os.environ if env is None else env)
    common = _common(env)
    ap = argparse.ArgumentParser(
        prog="stt",
        description="Real-time speech-to-text from a terminal.",
        epilog="Exit codes: 0 ok, 2 usage, 3 connection failed, 4 auth failed, 5 server error, 130 interrupted.",
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    st = sub.add_parser("stream", parents=[common], help="stream a file or the microphone; print results live")
    src = st.add_argument_group("audio")
    src.add_argument("file", nargs="?", type=Path, help="any file FFmpeg decodes (wav, flac, mp3, ogg, …)")
    src.add_argument("--mic", action="store_true", help="stream the microphone until Ctrl-C (needs sounddevice)")
    src.add_argument("--device", help="microphone name or index (sounddevice's numbering)")
    src.add_argument("--fast", action="store_true", help="send the file as fast as the server's pace limit allows")
    src.add_argument("--speed", type=float, default=1.0, help="pace the file at this many times real time")
    src.add_argument("--chunk-ms", type=float, default=100.0, help="audio per frame (default 100)")
    st.add_argument("--session-id", help="name the new session")
    st.add_argument("--json", action="store_true", help="print every server message as one JSON line")
    rs = st.add_argument_group("resuming (see README 'Resume')")
    rs.add_argument(
        "--no-resume", action="store_true", help="fail when the connection drops, instead of resuming by itself"
    )
    rs.add_argument(
        "--resume-buffer",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds of audio kept after the last final, sent again on a resume (default 30)",
    )
    rs.add_argument(
        "--resume-timeout", type=float, default=120.0, metavar="S", help="give up resuming after this (default 120)"
    )
    _add_session_options(st)

    tk = sub.add_parser("token", parents=[common], help="mint a short-lived JWT with the API key")
    tk.add_argument("--ttl", type=int, metavar="S", help="lifetime in seconds (server default 600, at most 3600)")
    tk.add_argument("--session-id", help="bind the token to one session")
    tk.add_argument("--page", action="store_true", help="print the browser page's URL carrying the token")

    se = sub.add_parser("sessions", parents=[common], help="list this client's stored sessions, newest first")
    se.add_argument("--limit", type=int, help="sessions a page (server default 20)")
    se.add_argument("--since", metavar="TIME", help="started at or after this ISO 8601 time")
    se.add_argument("--until", metavar="TIME", help="started before this ISO 8601 time")
    se.add_argument("--cursor", help="the page after this cursor (printed when there are more)")
    se.add_argument("--all", action="store_true", help="every page, not just the first")
    se.add_argument("--json", action="store_true", help="print the server's JSON (one page, or every session)")

    tr = sub.add_parser("transcript", parents=[common], help="print a stored session's transcript")
    tr.add_argument("session_id")
    tr.add_argument("--format", choices=TRANSCRIPT_FORMATS, default="txt", help="default txt")
    tr.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    return ap


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "stream":
            check_stream_args(args)
        return asyncio.run(commands.run(args, out, err))
    except UsageError as exc:
        err.write(f"stt {args.command}: {exc}\n")
        return EXIT_USAGE
    except SttClientError as exc:
        err.write(f"stt: {describe(exc)}\n")
        return exit_code(exc)
    except KeyboardInterrupt:
        err.write("stt: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`stt stream … | head`): stop quietly, as other command-line tools do
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return EXIT_OK
