"""Terminal keys through a real pseudo-terminal: actions posted, cbreak mode restored after."""

from __future__ import annotations

import os
import sys

import pytest

from live2diff_broadcast.control import (
    ControlBus,
    NextStyle,
    PreviousStyle,
    Quit,
    Rewarm,
    SelectStyle,
    TogglePassthrough,
)
from live2diff_broadcast.control.terminal import TerminalControl
from tests.control.conftest import collect

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
termios = pytest.importorskip("termios")


def test_keys_become_actions_and_the_terminal_is_restored() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        bus = ControlBus()
        control = TerminalControl(bus, lambda: ["anime", "sketch"], fd=slave)
        assert control.start() is True
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # keys arrive one by one
        os.write(master, b"2n pr9xq")  # 9: no such style, x: not a key
        got = collect(bus, 6)
        assert [type(a) for a in got] == [SelectStyle, NextStyle, TogglePassthrough, PreviousStyle, Rewarm, Quit]
        assert got[0].name == "sketch" and all(a.origin == "terminal" for a in got)
        control.stop()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_not_a_terminal_changes_nothing() -> None:
    read, write = os.pipe()
    try:
        assert TerminalControl(ControlBus(), lambda: ["a"], fd=read).start() is False
    finally:
        os.close(read)
        os.close(write)
