"""The control port's size and time limits, in one place, and the checks that enforce them in the app.

The connection-level limits (first-request deadline, idle connections) live in
``bounded_http.py``; these are the request-level ones. Every limit answers with a 4xx (HTTP) or a
close code (WebSocket) and a message naming the limit, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MAX_HEAD = 16 * 1024  # request line + headers; a complete head over this is 431, an incomplete one 400 (h11)
MAX_BODY = 16 * 1024  # a command is a line; bigger bodies are 413, unread
BODY_DEADLINE_S = 10.0  # a body that has not arrived by then is 408
MAX_JSON_DEPTH = 32  # {"command": "..."} is depth 1; deeper JSON is 400 / close 1007
WS_MAX_MESSAGE = 64 * 1024  # WebSocket messages over this: close 1009 (by the server, before we see them)
WS_MAX_FIRST = 1024  # the first WebSocket message is {"token": T}; anything longer is close 1009
TOKEN_WAIT_S = 5.0  # a WebSocket that has not sent its token by then is closed (1008)
MAX_PENDING_WS = 16  # WebSockets still waiting for their token; over it the oldest is closed (1013)

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonRefused(ValueError):
    """Not JSON, or nested deeper than MAX_JSON_DEPTH; the message says which."""


def head_bytes(path: str, query: bytes, headers: Iterable[tuple[bytes, bytes]]) -> int:
    """About the bytes of a request's head: target plus every ``name: value\\r\\n``."""
    return len(path) + len(query) + sum(len(name) + len(value) + 4 for name, value in headers)


def json_depth(text: str) -> int:
    """How deep arrays / objects nest in ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def load_json(text: str) -> Any:
    """``json.loads`` that refuses deep nesting before parsing (the parser recursed into a 500 before)."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise JsonRefused(f"JSON nested {depth} deep, over the limit of {MAX_JSON_DEPTH}; "
                          'expected {"command": "style NAME"}')
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise JsonRefused(f"not JSON: {exc}"[:300]) from None
