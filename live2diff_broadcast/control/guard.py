"""Who may talk to the control port: Host, Origin and token checks, shared by HTTP and WebSocket.

The threats are web pages, not local programs: any page the streamer opens (or an OBS browser
source) can make the browser send requests to 127.0.0.1. So:

* Host must name this server (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT`` or the
  configured bind address): a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) sends
  its own name as Host and is refused before anything runs, the page included.
* Origin, when the browser sends one, must be this server's own origin (``http://`` + Host).
  ``Origin: null`` (sandboxed frames, file:// pages) is refused too. Programs send no Origin.
* ``Sec-Fetch-Site: cross-site`` / ``same-site`` is refused as well (browsers that send it tell
  the truth even where Origin is missing, e.g. a top-level navigation).
* Every state change (POST, WebSocket command) carries the per-run token (``token.py``):
  ``Authorization: Bearer T`` or ``X-Live2Diff-Token: T``; on the WebSocket, the first message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .token import same_token

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


def allowed_hosts(bind_host: str, port: int) -> frozenset[str]:
    """The Host header values that name this server (lower case, with the port)."""
    names = set(LOOPBACK_NAMES)
    if bind_host not in ("", "0.0.0.0", "::"):
        names.add(f"[{bind_host}]" if ":" in bind_host else bind_host)
    return frozenset(f"{name.lower()}:{port}" for name in names)


def check_origin(headers: Mapping[str, str], hosts: frozenset[str]) -> Refusal | None:
    """Host is ours, and a browser's Origin / Sec-Fetch-Site says the request comes from our own page."""
    host = headers.get("host", "").strip().lower()
    if host not in hosts:
        return Refusal(403, f"Host {host or '(none)'!r} is not this control server (expected one of "
                            f"{', '.join(sorted(hosts))}); refused (DNS rebinding protection)")
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() != f"http://{host}":
        return Refusal(403, f"Origin {origin!r} is not this control server (http://{host}); "
                            "web pages of other sites may not use the control port")
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return Refusal(403, f"Sec-Fetch-Site {fetch_site!r}: requests from other sites are refused")
    return None


def request_token(headers: Mapping[str, str]) -> str | None:
    """The token a request carries: ``Authorization: Bearer T`` or ``X-Live2Diff-Token: T``."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = headers.get("x-live2diff-token", "").strip()
    return token or None


def check_token(given: str | None, expected: str) -> Refusal | None:
    if given is None:
        return Refusal(401, "this command needs the control token: send 'Authorization: Bearer TOKEN' "
                            "(the token file is printed when `run` starts; `live2diff-broadcast control` reads it)")
    if not same_token(given, expected):
        return Refusal(403, "wrong control token (it changes every run; read the current token file)")
    return None
