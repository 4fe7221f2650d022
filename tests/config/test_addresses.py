"""The one loopback test the control server and the OSC listener share."""

import pytest

from live2diff_broadcast.config.addresses import is_loopback


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_addresses_stay_on_this_machine(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "10.0.0.1", "example.com", "LOCALHOST.evil"])
def test_anything_else_is_reachable_from_elsewhere(host: str) -> None:
    assert not is_loopback(host)
