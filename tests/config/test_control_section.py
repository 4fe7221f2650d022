"""[control]: a non-loopback host needs allowed_hosts (remote mode); names are host names, not URLs."""

from __future__ import annotations

import pytest

from live2diff_broadcast.config import ProfileError, parse_profile

STYLE = '[[styles]]\nname = "a"\nprompt = "b"\n'


def control(text: str) -> str:
    try:
        parse_profile(f"[control]\n{text}\n{STYLE}".encode(), "show.toml", check_plugins=False)
    except ProfileError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "stream-pc.local"])
def test_a_network_host_needs_allowed_hosts(host: str) -> None:
    message = control(f'host = "{host}"')
    assert message.startswith("show.toml") and "allowed_hosts" in message and repr(host) in message
    assert control(f'host = "{host}"\nallowed_hosts = ["192.168.1.20", "stream-pc.local", "[fe80::1]"]') == ""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_nothing(host: str) -> None:
    assert control(f'host = "{host}"') == ""


@pytest.mark.parametrize("name", ["http://pc:7878", "pc:7878", "a:7878", "0.0.0.0", "::", "[::]", "*", "a b", ""])
def test_allowed_hosts_are_plain_names(name: str) -> None:
    message = control(f'host = "0.0.0.0"\nallowed_hosts = ["{name}"]')
    assert "control.allowed_hosts" in message and "no scheme, port or wildcard" in message


def test_token_file_is_kept_as_given() -> None:
    profile = parse_profile(f'[control]\ntoken_file = "~/.config/live2diff/dock.token"\n{STYLE}'.encode(), "show.toml",
                            check_plugins=False)
    assert profile.control.token_file == "~/.config/live2diff/dock.token"
