"""``control``: send one command to a running broadcast's control server (127.0.0.1 by default).

    live2diff-broadcast control style anime
    live2diff-broadcast control next
    live2diff-broadcast control passthrough on
    live2diff-broadcast control status
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
from typing import Any

from ..control.protocol import HELP, CommandError, parse_command
from ..control.server import DEFAULT_HOST, DEFAULT_PORT

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "control",
        help="switch styles / passthrough of a running broadcast, or read its status",
        description="Sends one command to the control server of a running `live2diff-broadcast run`.",
        epilog="commands:\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"control server address (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"control server port (default {DEFAULT_PORT})")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    p.add_argument("words", nargs="+", metavar="COMMAND", help="e.g. 'style anime', 'next', 'status'")
    p.set_defaults(func=run)


def send_command(line: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 5.0) -> dict[str, Any]:
    """One command line -> the server's JSON answer. Raises OSError when nothing listens."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(line.strip().encode() + b"\n")
        conn.shutdown(socket.SHUT_WR)
        with conn.makefile("rb") as answer:
            reply = answer.readline()
    if not reply:
        raise ConnectionError(f"{host}:{port} closed the connection without an answer")
    data = json.loads(reply)
    if not isinstance(data, dict):
        raise ConnectionError(f"{host}:{port} answered {reply!r}, expected a JSON object")
    return data


def run(args: argparse.Namespace) -> int:
    line = " ".join(args.words)
    try:
        parse_command(line)  # a typo is reported here, without a round trip
    except CommandError as exc:
        logger.error("%s", exc)
        return 2
    try:
        answer = send_command(line, args.host, args.port, args.timeout)
    except OSError as exc:
        logger.error("cannot reach the control server at %s:%d (%s): is `live2diff-broadcast run` running, "
                     "with the same --control-port?", args.host, args.port, exc)
        return 2
    if "status" in answer:
        print(json.dumps(answer["status"], indent=2))
    elif "help" in answer:
        print(answer["help"])
    else:
        print(answer.get("message") or answer.get("error") or json.dumps(answer))
    return 0 if answer.get("ok") else 1
