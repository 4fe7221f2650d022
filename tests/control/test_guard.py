"""Who may talk to the control port: the Host / Origin / fetch-metadata rules, a loopback Host only from a loopback
peer (a LAN client claiming 127.0.0.1 is spoofing), the allowed names of remote mode, and the token checks; the refusals' words (each names what was expected, so a user or a script author can fix
the request)."""

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


def test_a_wildcard_bind_adds_no_name_and_a_specific_one_adds_itself() -> None:
    loopback = {"127.0.0.1:7878", "localhost:7878", "[::1]:7878"}
    for wildcard in ("", "0.0.0.0", "::"):
        assert allowed_hosts(wildcard, 7878) == loopback
    assert allowed_hosts("192.168.1.5", 7878) == loopback | {"192.168.1.5:7878"}
    assert allowed_hosts("fe80::1", 9000) == {"127.0.0.1:9000", "localhost:9000", "[::1]:9000", "[fe80::1]:9000"}
    assert allowed_hosts("::", 9000, ["[fe80::1]"]) == allowed_hosts("fe80::1", 9000)  # bracketed already: kept as is
    assert allowed_hosts("Studio-PC", 7878) == loopback | {"studio-pc:7878"}


def test_refusals_say_what_was_wrong_and_what_is_expected() -> None:
    hosts = allowed_hosts("127.0.0.1", 7878)
    missing = check_origin({}, hosts)
    assert missing is not None and missing.status == 403
    assert missing.reason.startswith("Host '(none)' is not this control server (expected one of 127.0.0.1:7878, ")
    rebinding = check_origin({"host": "evil.example:7878"}, hosts)
    assert rebinding is not None and "Host 'evil.example:7878' is not this control server" in rebinding.reason
    other_site = check_origin({"host": "127.0.0.1:7878", "origin": "https://evil.example"}, hosts)
    assert other_site is not None and other_site.reason == (
        "Origin 'https://evil.example' is not this control server (http://127.0.0.1:7878); "
        "web pages of other sites may not use the control port")
    cross = check_origin({"host": "127.0.0.1:7878", "sec-fetch-site": "Cross-Site"}, hosts)
    assert cross is not None and cross.reason == "Sec-Fetch-Site 'cross-site': requests from other sites are refused"
    no_token = check_token(None, "abc")
    assert no_token is not None and no_token.status == 401
    assert no_token.reason.startswith("this command needs the control token: send 'Authorization: Bearer TOKEN'")
    wrong = check_token("abd", "abc")
    assert wrong is not None and wrong.status == 403
    assert wrong.reason.startswith("wrong control token (a new one is made every run")
    assert check_token("abc", "abc") is None


@pytest.mark.parametrize("host", ["127.0.0.1:7878", "localhost:7878", "[::1]:7878"])
def test_a_loopback_host_from_another_machine_is_refused_as_spoofed(host: str) -> None:
    """Every loopback name, the bracketed IPv6 one too, only from a loopback peer."""
    hosts = allowed_hosts("0.0.0.0", 7878)
    spoofed = check_origin({"host": host}, hosts, peer="192.168.1.20")
    assert spoofed is not None and spoofed.status == 403
    assert spoofed.reason == (f"Host {host!r} from 192.168.1.20: a loopback name from another machine is a spoofed Host; "
                              "use the name in control.allowed_hosts")
    assert check_origin({"host": host}, hosts, peer="127.0.0.1") is None
    assert check_origin({"host": host}, hosts, peer="::1") is None


@pytest.mark.parametrize(("headers", "token"), [
    ({"authorization": "Bearer  t0k "}, "t0k"),
    ({"authorization": "bearer t0k"}, "t0k"),
    ({"authorization": "Basic dXNlcg=="}, None),
    ({"authorization": "Bearer "}, None),
    ({"x-live2diff-token": " t0k "}, "t0k"),
    ({"authorization": "Basic x", "x-live2diff-token": "t0k"}, "t0k"),
    ({}, None),
])
def test_the_token_comes_from_a_bearer_header_or_our_own(headers: dict[str, str], token: str | None) -> None:
    assert request_token(headers) == token
