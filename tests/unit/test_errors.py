"""The error tree is the one source of wire codes: the README lists exactly its codes, and no server
code writes a code as a string literal."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from app import errors
from app.logsample import SampledLog
from app.safejson import JsonRejected, depth_exceeds, parse_json
from app.service.gate import FailureThrottle

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n### ", start + len(title))
    return README[start : end if end > 0 else len(README)]


def _table_codes(text: str) -> dict[str, list[str]]:
    """First-column codes of the markdown table rows in ``text``, with their other cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z_]+)`", cells[0]) if cells else None
        if match:
            rows[match.group(1)] = cells[1:]
    return rows


def test_readme_lists_exactly_the_wire_errors_with_their_close_codes_and_statuses() -> None:
    table = _table_codes(_section("### Errors and close codes").split("Warnings")[0])
    assert set(table) == {cls.code for cls in errors.wire_errors()}
    for cls in errors.wire_errors():
        close, http, fatal = table[cls.code][:3]
        assert close == ("—" if cls.rest_only else str(cls.close_code)), cls.code
        assert http == str(cls.http_status), cls.code
        assert fatal == ("yes" if cls.fatal else "no"), cls.code


def test_readme_lists_exactly_the_warnings() -> None:
    table = _table_codes(_section("### Errors and close codes").split("Warnings")[1])
    assert set(table) == {cls.code for cls in errors.wire_warnings()}


def test_no_server_module_writes_a_wire_code_as_a_literal() -> None:
    literal = re.compile(r"""\bcode\s*=\s*["'][a-z_]+["']""")
    offenders = []
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "deployments").rglob("*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "app/errors.py" or rel.startswith("app/client/"):  # the client has codes of its own
            continue
        offenders += [f"{rel}: {line.strip()}" for line in path.read_text().splitlines() if literal.search(line)]
    assert offenders == []


def test_codes_are_unique_per_class_and_snake_case() -> None:
    for cls in [*errors.wire_errors(), *errors.wire_warnings()]:
        assert re.fullmatch(r"[a-z][a-z0-9_]+", cls.code), cls


def test_quote_bounds_what_a_message_repeats() -> None:
    assert errors.quote("short") == "'short'"
    quoted = errors.quote("x" * 1_000_000)
    assert len(quoted) <= errors.MAX_QUOTE and quoted.endswith("…")
    assert len(errors.quote(list(range(100_000)))) <= errors.MAX_QUOTE


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ('{"a": [1, {"b": 2}]}', True),
        ("[" * 5000 + "]" * 5000, False),
        ("[" * 33 + "]" * 33, False),
        ("[" * 32 + "]" * 32, True),
        ("{nope", False),
        (b"\xff\xfe", False),
    ],
)
def test_parse_json_bounds_depth(raw: str | bytes, ok: bool) -> None:
    if ok:
        parse_json(raw)
    else:
        with pytest.raises(JsonRejected):
            parse_json(raw)


def test_depth_check_is_iterative() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(100_000):  # far past the recursion limit
        child: list[object] = []
        node.append(child)
        node = child
    assert depth_exceeds(deep, 32)


def test_failure_throttle_refuses_within_the_window_and_forgets_after() -> None:
    clock = [0.0]
    throttle = FailureThrottle(3, 60.0, now=lambda: clock[0])
    for _ in range(3):
        throttle.check("1.2.3.4")
        throttle.failed("1.2.3.4")
    with pytest.raises(errors.TooManyRequests, match="retry in 60 s"):
        throttle.check("1.2.3.4")
    throttle.check("5.6.7.8")  # per address
    clock[0] = 60.5
    throttle.check("1.2.3.4")


def test_sampled_log_logs_the_first_few_then_a_sample(caplog: pytest.LogCaptureFixture) -> None:
    log = SampledLog(logging.getLogger("test.sampled"), first=2, every=10)
    with caplog.at_level(logging.WARNING, logger="test.sampled"):
        for _ in range(25):
            log.warning("frame", "bad frame")
        log.warning("other", "another kind")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:2] == ["bad frame", "bad frame"]
    assert lines[2:4] == ["bad frame (occurrence 12 of this kind)", "bad frame (occurrence 22 of this kind)"]
    assert lines[-1] == "another kind" and len(lines) == 5
