"""A fake OS keyboard layer for ``keyboard`` (as its own test suite does) and small wait helpers.

``keyboard`` is optional (the ``hotkeys`` extra): only the tests that ask for ``fake_keyboard`` or
``broken_keyboard`` are skipped without it, every other control and security test still runs.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

SCAN_CODES = {
    "ctrl": 29, "left ctrl": 29, "alt": 56, "left alt": 56, "shift": 42, "left shift": 42,
    **{str(d): 1 + d for d in range(1, 10)}, "0": 11, "n": 49, "p": 25, "r": 19, "space": 57, "f13": 183,
}


def _keyboard() -> ModuleType:
    """The keyboard library, or a skip of the asking test (and only that test) without it."""
    return pytest.importorskip("keyboard")


class FakeKeyboard:
    """Presses real key combinations through keyboard's own event path (``direct_callback``)."""

    def __init__(self, keyboard: ModuleType) -> None:
        self.keyboard = keyboard
        self.events = importlib.import_module("keyboard._keyboard_event")

    def press(self, combo: str) -> None:
        keys = combo.split("+")
        for key in keys:
            self._event(self.events.KEY_DOWN, key)
        for key in reversed(keys):
            self._event(self.events.KEY_UP, key)

    def _event(self, kind: str, name: str) -> None:
        event = self.events.KeyboardEvent(event_type=kind, scan_code=SCAN_CODES[name], name=name)
        self.keyboard._listener.direct_callback(event)
        time.sleep(0.05)  # keyboard processes events on its own thread


@pytest.fixture
def fake_keyboard(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKeyboard]:
    keyboard = _keyboard()
    os_kb: Any = keyboard._os_keyboard
    monkeypatch.setattr(os_kb, "init", lambda: None)
    monkeypatch.setattr(os_kb, "listen", lambda callback: None)
    monkeypatch.setattr(os_kb, "map_name", lambda name: iter([(SCAN_CODES[name], ())]))
    monkeypatch.setattr(os_kb, "press", lambda scan_code: None)
    monkeypatch.setattr(os_kb, "release", lambda scan_code: None)
    monkeypatch.setattr(keyboard._listener, "listening", False)
    yield FakeKeyboard(keyboard)
    keyboard.unhook_all_hotkeys()


@pytest.fixture
def broken_keyboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """keyboard as on Linux without /dev/input: init raises a bare AssertionError."""
    keyboard = _keyboard()

    def init() -> None:
        raise AssertionError

    monkeypatch.setattr(keyboard._os_keyboard, "init", init)
    monkeypatch.setattr(keyboard._listener, "listening", False)


def collect(bus: Any, count: int, timeout: float = 5.0) -> list[Any]:
    """The next ``count`` actions posted to ``bus`` (bounded wait)."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"timed out: {len(got)} of {count} actions arrived: {got}"
        bus.wait(0.05)
        got += [action for action, _ in bus.take()]
    return got


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
