"""JSON from clients, parsed with bounds.

``json.loads`` raises :class:`RecursionError` (not a ``ValueError``) on a few thousand nested
``[``, and a plain ``ValueError`` (not a ``JSONDecodeError``) on an integer of more than 4300
digits (Python's limit on converting digits to ``int``): both escaped every handler as an internal
error. :func:`parse_json` turns them, and any structure nested deeper than ``max_depth``, into
:class:`JsonRejected`, a ``ValueError`` whose message is safe to show a client.
"""

from __future__ import annotations

import json
from typing import Any

#: deeper than any message of the protocol or the REST API
MAX_DEPTH = 32


class JsonRejected(ValueError):
    """Not JSON, or JSON nested deeper than allowed; the message is safe to show a client."""


def parse_json(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise JsonRejected(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, and int()'s limit on digits
        raise JsonRejected("not valid JSON") from None
    if depth_exceeds(data, max_depth):
        raise JsonRejected(f"JSON nested deeper than {max_depth} levels")
    return data


def depth_exceeds(data: Any, max_depth: int) -> bool:
    """Whether ``data`` nests lists and dicts deeper than ``max_depth`` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
