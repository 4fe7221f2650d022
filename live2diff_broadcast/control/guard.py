"""Who may talk to the control port: Host, Origin and token checks, shared by HTTP and WebSocket.

Two kinds of threat. Web pages: any page the streamer opens (or an OBS browser source) can make
the browser send requests to 127.0.0.1. Other programs: another local user, or (remote mode)
anyone on the network, can connect to the port. So:

* Host must name this server (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``, the
  configured bind address or a name in ``control.allowed_hosts``): a DNS-rebinding page
  (``evil.example`` resolving to 127.0.0.1) sends its own name as Host and is refused before
  anything runs. A loopback name is accepted only from a loopback peer: another machine that
  claims ``Host: 127.0.0.1`` is lying (a spoofed Host).
* Origin, when the browser sends one, must be this server's own origin (``http://`` + Host).
  ``Origin: null`` (sandboxed frames, file:// pages) is refused too. Programs send no Origin.
* ``Sec-Fetch-Site: cross-site`` / ``same-site`` is refused as well (browsers that send it tell
  the truth even where Origin is missing, e.g. a top-level navigation).
* Every state change (POST, WebSocket command) carries the token (``token.py``):
  ``Authorization: Bearer T`` or ``X-Live2Diff-Token: T``; on the WebSocket, the first message.
  In remote mode (a non-loopback ``control.host``) every request does, reads included; only the
  dock page itself, which holds no secret, is served without it (a browser cannot add a header
  to the navigation that loads it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..config.addresses import is_loopback
from .token import same_token

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


def allowed_hosts(bind_host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values that name this server (lower case, with the port): the loopback names,
    the bind address unless it is a wildcard, and ``extra`` (the profile's ``control.allowed_hosts``)."""
    names = set(LOOPBACK_NAMES)
    for name in (bind_host, *extra):
        if name not in WILDCARDS:
            names.add(f"[{name}]" if ":" in name and not name.startswith("[") else name)
    return frozenset(f"{name.lower()}:{port}" for name in names)


def check_origin(headers: Mapping[str, str], hosts: frozenset[str], peer: str | None = None) -> Refusal | None:
    """Host is ours (a loopback name only from a loopback ``peer``), and a browser's Origin /
    Sec-Fetch-Site says the request comes from our own page."""
    host = headers.get("host", "").strip().lower()
    if host not in hosts:
        return Refusal(403, f"Host {host or '(none)'!r} is not this control server (expected one of "
                            f"{', '.join(sorted(hosts))}); refused (DNS rebinding protection)")
    if peer is not None and not is_loopback(peer) and is_loopback(host.rsplit(":", 1)[0].strip("[]")):
        return Refusal(403, f"Host {host!r} from {peer}: a loopback name from another machine is a spoofed Host; "
                            "use the name in control.allowed_hosts")
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
        return Refusal(403, "wrong control token (a new one is made every run unless control.token_file keeps one; "
                            "read the current token file or the dock URL `run` printed)")
    return None
