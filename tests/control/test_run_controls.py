"""`run`'s controls together: without global hotkeys (as on Linux without /dev/input) the problem is
reported once, and the control server and terminal keys still switch styles of a running show."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

import pytest

from live2diff_broadcast.commands.control import send_command
from live2diff_broadcast.commands.run import _start_controls, register
from live2diff_broadcast.config import Profile
from live2diff_broadcast.control.hotkeys import HotkeyControl
from live2diff_broadcast.control.server import ControlServer
from live2diff_broadcast.control.terminal import TerminalControl
from live2diff_broadcast.runtime.supervisor import Supervisor
from tests.control.conftest import wait_for


def args(**over: object) -> argparse.Namespace:
    """`run`'s own arguments (its parser's defaults), with ``over`` applied."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    namespace = parser.parse_args(["run", "--control-host", "127.0.0.1", "--control-port", "0"])
    for name, value in over.items():
        setattr(namespace, name, value)
    return namespace


def profile() -> Profile:
    return Profile(
        styles=[{"name": "anime", "prompt": "a", "hotkey": "ctrl+alt+1"}, {"name": "sketch", "prompt": "b"}],
        hotkeys={"next_style": "ctrl+alt+n"},
    )


def consume(sup: Supervisor, stop: threading.Event) -> None:
    while not stop.wait(0.02):
        sup._control_stage.tick()  # what the sink loop does every tick


@pytest.mark.usefixtures("broken_keyboard")
@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_without_hotkeys_the_server_and_terminal_still_work(caplog: pytest.LogCaptureFixture) -> None:
    sup = Supervisor(profile(), source_factory=lambda: None, sink_factory=lambda: None)  # type: ignore[arg-type,return-value]
    master, slave = os.openpty()
    controls = []
    try:
        with caplog.at_level(logging.WARNING):
            controls = _start_controls(args(no_terminal_keys=True), sup)
            terminal = TerminalControl(sup.controls, lambda: [s.name for s in sup.profile.styles], fd=slave)
            assert terminal.start()
            controls.append(terminal)
        hotkeys = next(c for c in controls if isinstance(c, HotkeyControl))
        assert hotkeys.available is False
        warnings = [r.getMessage() for r in caplog.records if "hotkeys unavailable" in r.getMessage()]
        assert len(warnings) == 1 and "/dev/input" in warnings[0] and "input" in warnings[0]
        server = next(c for c in controls if isinstance(c, ControlServer))
        assert server.address[0] == "127.0.0.1"
        stop = threading.Event()
        pump = threading.Thread(target=consume, args=(sup, stop))
        pump.start()
        try:
            answer = send_command("style sketch", port=server.address[1])
            assert answer == {"ok": True, "message": "style 'sketch' requested", "style": "sketch"}
            assert sup.style == "sketch" and sup.status()["style_target"] == "sketch"
            os.write(master, b"1")  # terminal key 1: the first style
            wait_for("terminal key 1", lambda: sup.style == "anime")
            os.write(master, b" ")
            wait_for("passthrough on", lambda: sup.status()["forced_passthrough"] is True)
            assert send_command("next", port=server.address[1])["style"] == "sketch"
        finally:
            stop.set()
            pump.join(5)
    finally:
        for control in reversed(controls):
            control.stop()
        os.close(master)
        os.close(slave)
