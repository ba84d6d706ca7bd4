"""The protocol parser and the option validators, fuzzed directly: client JSON (valid commands with
hostile fields, malformed and oversized text), session options near and past their bounds, and the
compatible APIs' query parameters. Each input is accepted or refused with a stable code and a
bounded message; nothing else escapes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app import protocol as p
from app.compat import assemblyai_wire as aai
from app.compat import deepgram_wire as dg
from app.compat.common import Query, json_list
from app.compat.options import language, session_options
from app.config import ServerSettings
from app.errors import ConfigError, InvalidMessage, ProtocolError, UnknownCommand
from app.options import SessionOptions, describe_validation_error, parse_session_options
from app.safejson import JsonRejected, parse_json
from tests.fuzz.budget import budget, timeout
from tests.fuzz.checks import MAX_MESSAGE_CHARS, check_error
from tests.fuzz.strategies import client_text, commands, json_values, options_patch, query_params, scalars

pytestmark = timeout(120)

PARSE_CODES = frozenset({InvalidMessage.code, UnknownCommand.code})
OPTION_CODES = frozenset({ConfigError.code})


@settings(max_examples=budget(300))
@given(raw=client_text | st.binary(max_size=300) | st.text(max_size=300))
def test_parse_json_accepts_or_rejects_cleanly(raw: str | bytes) -> None:
    try:
        parse_json(raw)
    except JsonRejected as exc:
        assert len(str(exc)) <= MAX_MESSAGE_CHARS


@settings(max_examples=budget(400))
@given(raw=client_text | st.binary(max_size=300))
def test_client_messages_parse_or_get_a_stable_code(raw: str | bytes) -> None:
    try:
        msg = p.parse_client_message(raw)
    except ProtocolError as exc:
        check_error(exc, PARSE_CODES)
        return
    if isinstance(msg, p.StartStream):  # the ingress hands its host the parsed start re-serialised
        assert p.parse_client_message(msg.model_dump_json()) == msg


@settings(max_examples=budget(300))
@given(body=commands())
def test_commands_as_dicts_parse_or_get_a_stable_code(body: dict[str, Any]) -> None:
    try:
        p.parse_client_message(body)
    except ProtocolError as exc:
        check_error(exc, PARSE_CODES)


@settings(max_examples=budget(300))
@given(patch=options_patch() | json_values)
def test_session_options_validate_or_get_a_stable_code(patch: Any) -> None:
    try:
        options = parse_session_options(patch)
    except ConfigError as exc:
        check_error(exc, OPTION_CODES)
        return
    # the effective options session_started echoes are themselves valid options (a client may send them back)
    assert parse_session_options(options.model_dump(mode="json")) == options


@settings(max_examples=budget(300))
@given(patch=options_patch())
def test_configure_patches_merge_or_get_a_stable_code(patch: dict[str, Any]) -> None:
    try:
        SessionOptions().merged(patch)
    except ConfigError as exc:
        check_error(exc, OPTION_CODES)


@settings(max_examples=budget(60))
@given(patch=options_patch(ServerSettings) | json_values)
def test_server_settings_validate_or_raise_a_validation_error(patch: Any) -> None:
    """The operator's settings (serve_config.yaml's args): a clear pydantic error, never another exception."""
    try:
        ServerSettings.model_validate(patch)
    except ValidationError as exc:
        assert describe_validation_error(exc)


def _query(pairs: list[tuple[str, str]]) -> Query:
    lists: dict[str, list[str]] = {}
    for name, value in pairs:
        lists.setdefault(name, []).append(value)
    return Query({k: v[-1] for k, v in lists.items()}, lists)


@settings(max_examples=budget(300))
@given(pairs=query_params, live=st.booleans())
def test_deepgram_query_parameters_become_options_or_a_stable_code(pairs: list[tuple[str, str]], live: bool) -> None:
    try:
        _, wanted = dg.parse(_query(pairs), live=live)
        session_options(SessionOptions(), wanted)
    except ConfigError as exc:
        check_error(exc, OPTION_CODES)


@settings(max_examples=budget(300))
@given(pairs=query_params)
def test_assemblyai_query_parameters_become_options_or_a_stable_code(pairs: list[tuple[str, str]]) -> None:
    try:
        _, wanted = aai.parse(_query(pairs))
        session_options(SessionOptions(), wanted)
    except ConfigError as exc:
        check_error(exc, OPTION_CODES)


@settings(max_examples=budget(200))
@given(body=st.fixed_dictionaries({"type": st.just("UpdateConfiguration")}, optional={"max_turn_silence": scalars}))
def test_assemblyai_update_configuration_is_a_valid_patch(body: dict[str, Any]) -> None:
    SessionOptions().merged(aai.update(body))  # whatever the numbers, the patch it makes is within bounds


@settings(max_examples=budget(200))
@given(tag=st.text(max_size=50) | st.sampled_from(["en-US", "multi", "AUTO", "zh_Hant_TW", "x" * 5000]))
def test_vendor_language_tags_map_or_get_a_stable_code(tag: str) -> None:
    try:
        parse_session_options({"language": language(tag)})
    except ConfigError as exc:
        check_error(exc, OPTION_CODES)


@settings(max_examples=budget(200))
@given(raw=client_text | st.text(max_size=100))
def test_json_list_parameters_parse_or_get_a_stable_code(raw: str) -> None:
    try:
        json_list("keyterms_prompt", raw)
    except ConfigError as exc:
        check_error(exc, OPTION_CODES)
