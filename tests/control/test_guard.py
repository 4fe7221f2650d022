"""Who may talk to the control port: the Host / Origin / fetch-metadata rules, a loopback Host only from a loopback
peer (a LAN client claiming 127.0.0.1 is spoofing), the allowed names of remote mode, and the token checks."""

from __future__ import annotations

import pytest

from live2diff_broadcast.control.guard import allowed_hosts, check_origin, check_token, request_token


@pytest.mark.parametrize(("headers", "peer", "refused"), [
    ({"host": "127.0.0.1:7878"}, "127.0.0.1", False),
    ({"host": "LOCALHOST:7878", "origin": "http://localhost:7878"}, "127.0.0.1", False),
    ({"host": "[::1]:7878"}, "::1", False),
    ({"host": "127.0.0.1:7878", "origin": "http://localhost:7878"}, "127.0.0.1", True),  # another origin than the Host
    ({"host": "127.0.0.1"}, "127.0.0.1", True),  # no port: not how a browser names us
    ({}, "127.0.0.1", True),
    ({"host": "127.0.0.1:7878", "sec-fetch-site": "same-site"}, "127.0.0.1", True),
    ({"host": "127.0.0.1:7878", "sec-fetch-site": "same-origin"}, "127.0.0.1", False),
    ({"host": "127.0.0.1:7878"}, "10.0.0.2", True),  # a loopback name from another machine: spoofed
    ({"host": "localhost:7878"}, "192.168.1.9", True),
    ({"host": "stream-pc.local:7878"}, "192.168.1.9", False),  # an allowed name
    ({"host": "stream-pc.local:7878", "origin": "http://stream-pc.local:7878"}, "192.168.1.9", False),
    ({"host": "evil.example:7878"}, "192.168.1.9", True),
])
def test_guard_rules(headers: dict[str, str], peer: str, refused: bool) -> None:
    hosts = allowed_hosts("0.0.0.0", 7878, ["stream-pc.local"])
    assert (check_origin(headers, hosts, peer) is not None) is refused


def test_allowed_hosts_names() -> None:
    assert allowed_hosts("127.0.0.1", 7878) == {"127.0.0.1:7878", "localhost:7878", "[::1]:7878"}
    assert "[fe80::1]:7878" in allowed_hosts("0.0.0.0", 7878, ["fe80::1"])
    assert "stream-pc.local:7878" in allowed_hosts("0.0.0.0", 7878, ["Stream-PC.local"])
    assert not any(h.startswith("0.0.0.0") for h in allowed_hosts("0.0.0.0", 7878))


def test_token_checks() -> None:
    assert request_token({"authorization": "Bearer abc"}) == "abc" == request_token({"x-live2diff-token": " abc "})
    assert request_token({"authorization": "Basic abc"}) is None and request_token({}) is None
    assert check_token("abc", "abc") is None
    missing, wrong = check_token(None, "abc"), check_token("abd", "abc")
    assert missing is not None and missing.status == 401 and wrong is not None and wrong.status == 403
