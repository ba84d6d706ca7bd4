"""``stt stream``'s arguments checked, and its flags turned into session options (validated as the
server will validate them)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.client.exits import UsageError
from app.errors import ConfigError
from app.options import SessionOptions, parse_session_options


def check_stream_args(args: argparse.Namespace) -> None:
    if args.mic == (args.file is not None):
        raise UsageError("give a FILE to stream, or --mic")
    if args.speed <= 0:
        raise UsageError(f"--speed {args.speed} must be positive")
    if args.chunk_ms < 10 or args.chunk_ms > 250:
        raise UsageError(f"--chunk-ms {args.chunk_ms} must be 10 to 250 (frames of at most 8192 bytes)")
    if args.file is not None and not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    if not 0 <= args.resume_buffer <= 600:
        raise UsageError(f"--resume-buffer {args.resume_buffer} must be 0 to 600 seconds")
    if args.resume_timeout <= 0:
        raise UsageError(f"--resume-timeout {args.resume_timeout} must be positive")


def _load_options_arg(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        text = Path(value[1:]).read_text() if value.startswith("@") else value
        data = json.loads(text)
    except OSError as exc:
        raise UsageError(f"--options {value}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"--options is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(data, dict):
        raise UsageError("--options must be a JSON object")
    return data


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        child = tree.get(key)
        if not isinstance(child, dict):
            child = tree[key] = {}
        tree = child
    tree[leaf] = value


def session_options(args: argparse.Namespace) -> SessionOptions:
    """``--options`` with the feature flags applied on top, validated as the server will."""
    patch = _load_options_arg(args.options)
    flags: list[tuple[bool, str, Any]] = [
        (args.no_partials, "features.interim_results", False),
        (args.diarize, "features.speaker_diarization", True),
        (args.sentiment, "features.sentiment_analysis.enabled", True),
        (args.topics or bool(args.topic), "features.topic_detection.enabled", True),
        (bool(args.topic), "features.topic_detection.topics", args.topic),
        (args.profanity, "features.profanity_filter.enabled", True),
        (bool(args.wake_word), "features.wake_words.enabled", True),
        (bool(args.wake_word), "features.wake_words.phrases", args.wake_word),
        (args.post_speech_silence is not None, "vad.post_speech_silence", args.post_speech_silence),
        (args.language is not None, "language", args.language),
        (args.prompt is not None, "initial_prompt", args.prompt),
        (args.translate, "task", "translate"),
        (bool(args.keyterm), "keyterms", args.keyterm),
        (args.numerals, "formatting.numerals", True),
        (args.transcription_time, "formatting.print_transcription_time", True),
    ]
    for wanted, path, value in flags:
        if wanted:
            _set(patch, path, value)
    try:
        options = parse_session_options(patch)
    except ConfigError as exc:
        raise UsageError(exc.message) from exc
    if options.audio.encoding != "pcm_s16le":
        raise UsageError("stt decodes the audio itself and sends PCM16: leave options.audio.encoding out")
    return options
