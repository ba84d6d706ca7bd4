"""Hypothesis strategies for hostile input: JSON and text a client may send, session options near and
past their bounds, vendor query parameters, and mutated streams of real encoded audio.

Strategies are structure-aware where blind bytes would never get past the first check (a command
with a real ``type``, options with real field names), and blind where the parser itself is the
target (text, bytes, numbers with thousands of digits that ``str``/``repr`` cannot print).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from app.languages import WHISPER_LANGUAGES
from app.options import SessionOptions
from app.protocol import CLIENT_TYPES

# --------------------------------------------------------------------------- JSON and text

BIG = 10**400  # past a float (OverflowError on division), within str()'s 4300 digits
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63, 2**64, -(2**63), BIG, -BIG])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.just("\udc80")
)
#: object keys, lone surrogates included (JSON can carry them as \ud800 escapes; UTF-8 cannot)
keys = st.text(max_size=12) | st.sampled_from(["\ud800", "type", "options"])
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)


def dumps(value: Any) -> str:
    """JSON as Python writes it (NaN and Infinity included: ``json.loads`` reads them back)."""
    return json.dumps(value)


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Text frames that stress the JSON parser itself rather than the fields."""
    kind = draw(
        st.sampled_from(["digits", "nested", "long-string", "long-key", "garbage", "bom", "truncated", "dupe-keys"])
    )
    command = draw(st.sampled_from(CLIENT_TYPES))
    if kind == "digits":  # json.loads converts with int(): more than 4300 digits is a ValueError
        digits = "9" * draw(st.integers(4290, 6000))
        field = draw(st.sampled_from(["audio_bytes", "last_seq", "x"]))
        return f'{{"type": "{command}", "{field}": {draw(st.sampled_from(["", "-"]))}{digits}}}'
    if kind == "nested":
        depth = draw(st.integers(30, 3000))
        return f'{{"type": "configure", "options": {"[" * depth}{"]" * depth}}}'
    if kind == "long-string":
        return dumps({"type": command, "options": {"language": "x" * draw(st.integers(1000, 200_000))}})
    if kind == "long-key":
        return dumps({"type": command, "k" * draw(st.integers(100, 100_000)): 1})
    if kind == "garbage":
        return draw(st.text(max_size=200))
    if kind == "bom":
        return "\ufeff" + dumps({"type": command})
    if kind == "truncated":
        text = dumps({"type": command, "options": draw(json_values)})
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    return f'{{"type": "{command}", "type": "{draw(st.text(max_size=10))}"}}'


# --------------------------------------------------------------------------- options


def _bounds(info: FieldInfo) -> list[float]:
    out: list[float] = []
    for m in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            bound = getattr(m, name, None)
            if isinstance(bound, int | float):
                out += [bound, bound - 1, bound + 1, bound - 1e-9, bound + 1e-9]
    return out


def _literal_choices(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return list(args)
    return [c for a in args for c in _literal_choices(a)]


_strings = (
    st.sampled_from(["", " ", "auto", "AUTO", " en ", "en-US", "zz", "pcm_s16le", "mp3", "\x00", "é" * 60])
    | st.sampled_from(["\ud800", "caf\udce9", "\udfff" * 3])  # lone surrogates: JSON escapes them, UTF-8 cannot
    | st.sampled_from(WHISPER_LANGUAGES)
    | st.text(max_size=60)
    | st.integers(101, 5000).map(lambda n: "w" * n)
)
_string_lists = st.lists(_strings, max_size=30) | st.integers(0, 300).map(lambda n: ["term"] * n)


def _field_values(info: FieldInfo) -> st.SearchStrategy[Any]:
    special: list[Any] = [info.get_default(call_default_factory=True)]
    special += _bounds(info) + _literal_choices(info.annotation)
    return (st.sampled_from(special) if special else st.nothing()) | _strings | _string_lists | json_values


def _model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def options_patch(model: type[BaseModel] = SessionOptions) -> st.SearchStrategy[dict[str, Any]]:
    """A partial options object of ``model``: real field names with values at, inside and past their
    bounds, nested models the same way, now and then an unknown field."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in model.model_fields.items():
        inner = _model(info.annotation)
        optional[name] = (options_patch(inner) | json_values) if inner else _field_values(info)
    patch = st.fixed_dictionaries({}, optional=optional)  # type: ignore[arg-type]
    unknown = st.dictionaries(st.text(max_size=20), json_values, max_size=1)
    return st.builds(lambda a, b: {**b, **a}, patch, st.one_of(st.just({}), unknown))


def _times() -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00+23:59",
            "1970-01-01T00:00:00-23:59",
            "1969-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
            "now",
            "",
        ]
    ) | st.one_of(st.integers(), st.floats(), st.datetimes().map(lambda d: d.isoformat()))


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    """A client command: a real ``type`` (now and then another), real fields with hostile values."""
    kind = draw(st.sampled_from(CLIENT_TYPES) | st.text(max_size=15))
    body: dict[str, Any] = {"type": kind}
    if kind == "start_stream":
        body |= draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "options": options_patch() | json_values,
                    "audio_start": _times(),
                    "last_seq": st.integers() | json_values,
                },
            )
        )
    elif kind == "stop_stream":
        body |= draw(
            st.fixed_dictionaries({}, optional={"audio_bytes": st.integers() | json_values, "audio_end": _times()})
        )
    elif kind == "configure":
        body |= draw(st.fixed_dictionaries({}, optional={"options": options_patch() | json_values}))
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=10))] = draw(json_values)
    return body


client_text = st.one_of(commands().map(dumps), hostile_text(), json_values.map(dumps))

# --------------------------------------------------------------------------- vendor query parameters

#: the parameters the compatible endpoints read (Deepgram's, AssemblyAI's), and a few they do not
QUERY_NAMES = [
    "encoding",
    "sample_rate",
    "channels",
    "language",
    "language_code",
    "language_codes",
    "model",
    "endpointing",
    "utterance_end_ms",
    "smart_format",
    "punctuate",
    "interim_results",
    "keyterm",
    "keywords",
    "keyterms_prompt",
    "diarize",
    "diarize_model",
    "numerals",
    "profanity_filter",
    "filter_profanity",
    "utt_split",
    "vad_events",
    "utterances",
    "format_turns",
    "speaker_labels",
    "inactivity_timeout",
    "end_of_turn_confidence_threshold",
    "min_end_of_turn_silence_when_confident",
    "min_turn_silence",
    "max_turn_silence",
    "prompt",
    "callback",
    "redact",
    "search",
    "replace",
    "tag",
    "unknown",
]
_query_values = st.one_of(
    st.sampled_from(
        ["", "true", "false", "TRUE", "1", "0", "yes", "nan", "inf", "-inf", "1e999", "1_000", "8000", "48000"]
    ),
    st.sampled_from(["16000.5", "7999", "48001", "-0", "0x10", "linear16", "mulaw", "alaw", "opus", "pcm_s16le"]),
    st.sampled_from(["ogg_opus", "pcm_mulaw", "en-US", "multi", "auto", "en_GB", "xx-YY", '["a","b"]', "[1,2]"]),
    st.integers().map(str),
    st.floats().map(repr),
    st.text(max_size=40),
    st.integers(4290, 6000).map(lambda n: "9" * n),
    st.integers(1, 400).map(lambda n: "[" * n),
    json_values.map(dumps),
)
query_params = st.lists(st.tuples(st.sampled_from(QUERY_NAMES), _query_values), max_size=12)

# --------------------------------------------------------------------------- audio streams

Mutation = Callable[[bytearray], None]


@st.composite
def mutation(draw: st.DrawFn, others: list[bytes]) -> Mutation:
    """One edit of a byte stream: truncation, bit flips, overwritten, inserted, repeated or removed
    ranges, a piece of another stream spliced in (positions are drawn as fractions of the length)."""
    op = draw(st.sampled_from(["cut-end", "cut-start", "flip", "overwrite", "insert", "repeat", "delete", "splice"]))
    at = draw(st.floats(0.0, 1.0))
    span = draw(st.integers(1, 4096))
    flips = draw(st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 7)), min_size=1, max_size=16))
    noise = draw(st.binary(min_size=1, max_size=512))
    other = others[draw(st.integers(0, len(others) - 1))] if others else b""  # by index: small reprs

    def apply(data: bytearray) -> None:
        i = int(at * len(data))
        if op == "cut-end":
            del data[i:]
        elif op == "cut-start":
            del data[:i]
        elif op == "flip" and data:
            for where, bit in flips:
                data[min(int(where * len(data)), len(data) - 1)] ^= 1 << bit
        elif op == "overwrite":
            data[i : i + len(noise)] = noise
        elif op == "insert":
            data[i:i] = noise
        elif op == "repeat":
            data[i:i] = data[i : i + span]
        elif op == "delete":
            del data[i : i + span]
        elif op == "splice" and other:
            j = int(at * len(other))
            data[i:i] = other[j : j + span]

    return apply


@st.composite
def frames_of(draw: st.DrawFn, data: bytes, max_frame: int) -> list[bytes]:
    """``data`` cut into frames of drawn sizes (cycled), now and then one over ``max_frame``."""
    sizes = draw(st.lists(st.integers(1, 9000) | st.just(max_frame) | st.just(max_frame + 1), min_size=1, max_size=6))
    out, pos, k = [], 0, 0
    while pos < len(data):
        size = sizes[k % len(sizes)]
        out.append(data[pos : pos + size])
        pos, k = pos + size, k + 1
    return out


@st.composite
def mutated_stream(draw: st.DrawFn, seeds: list[bytes], others: list[bytes]) -> bytes:
    """A seed stream with up to five edits; now and then pure noise instead."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=20_000))
    data = bytearray(seeds[draw(st.integers(0, len(seeds) - 1))])
    for edit in draw(st.lists(mutation(others), max_size=5)):
        edit(data)
    return bytes(data)


def interleave(a: list[bytes], b: list[bytes]) -> list[bytes]:
    """The frames of two streams taken in turn (two clients' audio mixed on one socket)."""
    out = []
    for i in range(max(len(a), len(b))):
        out += a[i : i + 1] + b[i : i + 1]
    return out
