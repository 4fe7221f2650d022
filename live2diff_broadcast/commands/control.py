"""``control``: send one command to a running broadcast's control server (127.0.0.1 by default).

    live2diff-broadcast control style oil painting
    live2diff-broadcast control blend cartoon "van gogh" 0.5
    live2diff-broadcast control prompt "a watercolor fox"
    live2diff-broadcast control status

The words are taken as a shell user typed them (``protocol.command_line``): a quoted name with
spaces stays one argument, and the one-string form (``control "blend cartoon 'van gogh' 0.5"``)
works too. When nothing listens on the port the answer is "no show running on port P", whatever
the token situation.

Talks HTTP to the control port: ``status`` and ``help`` are GETs, every other command a POST to
``/command`` with the run's token, read from the token file ``run`` wrote for that port
(``control/token.py``), or from $LIVE2DIFF_CONTROL_TOKEN (a show in remote mode on another
machine). The token is sent with the GETs too when known (remote mode needs it on every request).
``--token`` exists for scripts, but a command line is visible to every user in ``ps``: prefer the
file or the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import urllib.error
import urllib.request
from typing import Any

from ..control.protocol import HELP, CommandError, Query, command_line, parse_command
from ..control.server import DEFAULT_HOST, DEFAULT_PORT
from ..control.token import TOKEN_ENV, read_token, token_path

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
    p.add_argument("--token", default=None, help=f"the run's control token (default: ${TOKEN_ENV}, else the token file "
                   "`run` wrote for this port); NOTE: other users see command lines in `ps`, prefer those two")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    p.add_argument("words", nargs="+", metavar="COMMAND", help="e.g. 'style anime', 'next', 'status'")
    p.set_defaults(func=run)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send local commands via a proxy


class TokenMissing(OSError):
    """No token for this port: no file (is `run` running as this user?) and no --token / environment."""


class NoShow(ConnectionError):
    """Nothing listens on the control port: no show runs there."""


def _check_listening(host: str, port: int, timeout: float) -> None:
    """NoShow when a TCP connect to ``host:port`` is refused (so a missing token is not blamed for it)."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 2.0)):
            return
    except ConnectionRefusedError:
        raise NoShow(f"no show running on port {port} (nothing listens on {host}:{port}); start one with "
                     "`live2diff-broadcast run`, or give the port it uses with --port") from None
    except OSError:
        return  # unreachable / slow host: the request below says what happened


def send_command(line: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 5.0,
                 token: str | None = None) -> dict[str, Any]:
    """One command line -> the server's JSON answer. Raises OSError when nothing listens."""
    address = f"[{host}]" if ":" in host else host
    base = f"http://{address}:{port}"
    command = parse_command(line)
    _check_listening(host, port, timeout)
    token = token or read_token(port)
    if isinstance(command, Query):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"{base}/{command.what}", method="GET", headers=headers)
    else:
        if token is None:
            raise TokenMissing(f"no control token for port {port}: {token_path(port)} does not exist "
                               f"(set ${TOKEN_ENV} or --token when `run` runs as another user or machine)")
        request = urllib.request.Request(
            f"{base}/command", data=json.dumps({"command": line.strip()}).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            reply = response.read()
    except urllib.error.HTTPError as exc:  # 4xx / 5xx still carry the JSON answer
        reply = exc.read()
    try:
        data = json.loads(reply)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConnectionError(f"{base} answered {reply[:200]!r}, expected a JSON object")
    return data


def run(args: argparse.Namespace) -> int:
    line = command_line(args.words)
    try:
        parse_command(line)  # a typo is reported here, without a round trip
    except CommandError as exc:
        logger.error("%s", exc)
        return 2
    try:
        answer = send_command(line, args.host, args.port, args.timeout, args.token)
    except (TokenMissing, NoShow) as exc:
        logger.error("%s", exc)
        return 2
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
