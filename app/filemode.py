"""``python -m app``: the streaming core without Ray.

``python -m app transcribe FILE [--realtime] [--json]`` streams a file through the
same session core the service uses (in-process models), in 100 ms chunks, paced
in real time with ``--realtime`` or as fast as the models go, and prints partials
and finals. ``python -m app schema`` prints the protocol's JSON Schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from app import protocol as p
from app.config import ModelSettings, ServerSettings, main_model_defaults
from app.errors import SttError
from app.options import parse_session_options

CHUNK_MS = 100


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("transcribe", help="stream a file through the session core and print results")
    tr.add_argument("file", type=Path)
    tr.add_argument(
        "--realtime", action="store_true", help="pace the audio in real time (default: as fast as possible)"
    )
    tr.add_argument("--json", action="store_true", help="print every server message as one JSON line")
    tr.add_argument("--model", default="tiny.en", help="the realtime model, for partials (default tiny.en, bundled)")
    tr.add_argument(
        "--main-model",
        default=None,
        help="the main model, for finals (default: base, bundled, with the server's main-model decode settings)",
    )
    tr.add_argument(
        "--options", default="{}", help='session options as JSON, e.g. \'{"vad": {"post_speech_silence": 0.8}}\''
    )
    tr.add_argument("--no-partials", action="store_true", help="finals only")
    sub.add_parser("schema", help="print the protocol JSON Schema")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        print(json.dumps(p.json_schema(), indent=1, sort_keys=True))
        return 0
    try:
        return asyncio.run(_transcribe(args))
    except SttError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


class _Printer:
    """Partials rewrite one line in place on a terminal; finals get their own line."""

    def __init__(self, as_json: bool, out: TextIO = sys.stdout) -> None:
        self.as_json = as_json
        self.out = out
        self.tty = out.isatty()
        self._partial_shown = False

    async def __call__(self, msg: p.ServerMessage) -> None:
        if self.as_json:
            self.out.write(msg.model_dump_json() + "\n")
        elif isinstance(msg, p.PartialResult):
            line = f"[partial {msg.data.audio_start:6.2f}-{msg.data.audio_current:6.2f}s] {msg.data.text}"
            if self.tty:
                self.out.write("\r\033[K" + line)
                self._partial_shown = True
            else:
                self.out.write(line + "\n")
        elif isinstance(msg, p.FinalResult):
            if self._partial_shown:
                self.out.write("\r\033[K")
                self._partial_shown = False
            d = msg.data
            extra = f" ({d.transcription_time:.2f}s)" if d.transcription_time is not None else ""
            who = f"{'+'.join(s.id for s in d.speakers.details)}: " if d.speakers and d.speakers.details else ""
            self.out.write(f"[final   {d.audio.start:6.2f}-{d.audio.end:6.2f}s] {who}{d.text}{extra}\n")
        elif isinstance(msg, p.Error | p.Warning_):
            self.out.write(f"[{msg.type} {msg.code}] {msg.message}\n")
        self.out.flush()


async def _transcribe(args: argparse.Namespace) -> int:
    from app.audio.files import load_audio, to_pcm16
    from app.engines import WhisperEngine, WhisperTranscriber
    from app.engines.enrichment import local_enrichment
    from app.session.controller import StreamSession
    from app.session.ports import Ports

    patch: dict[str, Any] = json.loads(args.options)
    if args.no_partials:
        patch.setdefault("features", {})["interim_results"] = False
    options = parse_session_options(patch)
    if options.audio.encoding != "pcm_s16le" or options.audio.sample_rate != 16000:
        raise SystemExit("the file mode decodes the file itself; leave options.audio at its defaults")
    audio = load_audio(args.file)
    main = main_model_defaults()
    settings = ServerSettings(
        realtime_model=ModelSettings(model=args.model, window="trimmed"),
        main_model=main.model_copy(update={"model": args.main_model}) if args.main_model else main,
    )
    realtime = WhisperTranscriber(WhisperEngine(settings.realtime_model))
    main_model = WhisperTranscriber(WhisperEngine(settings.main_model))
    printer = _Printer(args.json)
    # enrichment models load on first use: a feature left off in --options loads nothing
    enrichment = local_enrichment(settings.enrichment)
    await enrichment.prepare(options)
    finals, partials = enrichment.for_session()
    session = StreamSession(
        "local",
        settings=settings,
        ports=Ports(realtime=realtime, main=main_model, enrichers=finals, partial_enrichers=partials),
        emit=printer,
        enforce_realtime=False,
    )
    await session.handle(p.StartStream(options=options))
    pcm = to_pcm16(audio)
    step = 16000 * 2 * CHUNK_MS // 1000
    t0 = time.monotonic()
    for i, offset in enumerate(range(0, len(pcm), step)):
        if args.realtime:
            await asyncio.sleep(max(0.0, t0 + i * CHUNK_MS / 1000 - time.monotonic()))
        else:
            await asyncio.sleep(0)  # let partials run between chunks
        await session.feed(pcm[offset : offset + step])
    await session.handle(p.StopStream())
    return 0
