"""OSC control over real UDP on 127.0.0.1: messages become actions; bad packets are logged, the server lives on."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from pythonosc.udp_client import SimpleUDPClient

from live2diff_broadcast.control.actions import (
    ActionResult,
    BlendStyles,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)
from live2diff_broadcast.control.bus import ControlBus
from live2diff_broadcast.control.osc import OscControl


@pytest.fixture
def osc() -> Iterator[tuple[OscControl, ControlBus, SimpleUDPClient]]:
    bus = ControlBus()
    control = OscControl(bus, "127.0.0.1", 0)
    control.start()
    try:
        yield control, bus, SimpleUDPClient("127.0.0.1", control.port)
    finally:
        control.stop()


def wait_actions(bus: ControlBus, count: int, timeout: float = 5.0) -> list:
    taken: list = []
    deadline = time.monotonic() + timeout
    while len(taken) < count and time.monotonic() < deadline:
        bus.wait(0.05)
        taken += bus.take()
    return taken


def test_messages_become_actions(osc: tuple[OscControl, ControlBus, SimpleUDPClient]) -> None:
    control, bus, client = osc
    assert control.host == "127.0.0.1"
    client.send_message("/live2diff/style", "anime")
    client.send_message("/live2diff/blend", ["anime", "sketch", 0.25])
    client.send_message("/live2diff/lora", ["ink", 0.5])
    client.send_message("/live2diff/passthrough", 1)
    actions = {dataclasses.replace(a, at_ns=0) for a, _ in wait_actions(bus, 4)}
    assert actions == {SelectStyle("anime", origin="osc", at_ns=0), BlendStyles("anime", "sketch", 0.25, origin="osc", at_ns=0),
                       SetLoraWeight("ink", 0.5, origin="osc", at_ns=0), TogglePassthrough(True, origin="osc", at_ns=0)}


def test_bad_input_is_logged_and_the_server_lives_on(osc: tuple[OscControl, ControlBus, SimpleUDPClient],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    control, bus, client = osc
    caplog.set_level(logging.WARNING, logger="live2diff_broadcast.control.osc")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"/live2diff/style\x00\x00\x00\x00,s\x00", ("127.0.0.1", control.port))  # truncated
        raw.sendto(b"\xff\xfe not osc at all", ("127.0.0.1", control.port))
    client.send_message("/live2diff/blend", ["anime", "sketch", 1.5])
    client.send_message("/live2diff/nope", 1)
    client.send_message("/live2diff/passthrough", 7)
    client.send_message("/live2diff/style", "after")  # still served
    taken = wait_actions(bus, 1)
    assert [a for a, _ in taken] == [SelectStyle("after", origin="osc", at_ns=taken[0][0].at_ns)]
    deadline = time.monotonic() + 3
    text = ""
    while time.monotonic() < deadline:
        text = caplog.text
        if all(s in text for s in ("malformed packet", "not OSC", "must be a number in [0, 1], got 1.5",
                                   "unknown OSC address '/live2diff/nope'", "takes 0 or 1")):
            break
        time.sleep(0.05)
    for expected in ("malformed packet", "not OSC", "must be a number in [0, 1], got 1.5",
                     "unknown OSC address '/live2diff/nope'", "takes 0 or 1, got [7]"):
        assert expected in text
    # a refused action (e.g. an unknown style) is logged with the supervisor's reason
    taken[0][1].set_result(ActionResult(False, "no style named 'after'"))
    assert "refused: no style named 'after'" in caplog.text


def test_a_network_address_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    control = OscControl(ControlBus(), "0.0.0.0", 0)
    control.start()
    control.stop()
    assert "reachable from the NETWORK" in caplog.text
