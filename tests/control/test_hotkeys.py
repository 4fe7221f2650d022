"""Global hotkeys through keyboard's own event path, and the unavailable path reported once."""

from __future__ import annotations

import logging

import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.control import ControlBus, NextStyle, Rewarm, SelectStyle, TogglePassthrough
from live2diff_broadcast.control.hotkeys import HotkeyControl, KeyBinding, profile_key_bindings
from live2diff_broadcast.media.frames import now_ns
from tests.control.conftest import FakeKeyboard, collect, wait_for


def bindings() -> list[KeyBinding]:
    return [
        KeyBinding("ctrl+alt+1", lambda: SelectStyle("anime", origin="hotkey"), "style anime"),
        KeyBinding("ctrl+alt+2", lambda: SelectStyle("sketch", origin="hotkey"), "style sketch"),
        KeyBinding("ctrl+alt+n", lambda: NextStyle(origin="hotkey"), "next_style"),
        KeyBinding("f13", lambda: TogglePassthrough(origin="hotkey"), "passthrough"),
    ]


def test_key_combinations_post_their_actions(fake_keyboard: FakeKeyboard) -> None:
    bus = ControlBus()
    control = HotkeyControl(bus, bindings())
    assert control.start() is True
    before = now_ns()
    fake_keyboard.press("ctrl+alt+2")
    wait_for("the ctrl+alt+2 action", lambda: bus.wait(0.01))
    fake_keyboard.press("2")  # without the modifiers: nothing
    fake_keyboard.press("ctrl+alt+n")
    fake_keyboard.press("f13")
    got = collect(bus, 3)
    assert [type(a) for a in got] == [SelectStyle, NextStyle, TogglePassthrough]
    first = got[0]
    assert isinstance(first, SelectStyle) and first.name == "sketch" and first.origin == "hotkey"
    assert first.at_ns >= before
    control.stop()
    fake_keyboard.press("ctrl+alt+1")  # unbound after stop
    assert not bus.wait(0.2)


def test_an_invalid_combination_is_skipped_and_the_rest_work(fake_keyboard: FakeKeyboard, caplog: pytest.LogCaptureFixture) -> None:
    bus = ControlBus()
    broken = KeyBinding("ctrl+nosuchkey", lambda: NextStyle(), "next_style")
    control = HotkeyControl(bus, [broken, *bindings()])
    assert control.start() is True
    assert "ctrl+nosuchkey" in caplog.text and "next_style" in caplog.text
    fake_keyboard.press("ctrl+alt+1")
    wait_for("the ctrl+alt+1 action", lambda: bus.wait(0.01))
    assert [a.name for a, _ in bus.take()] == ["anime"]  # type: ignore[union-attr]
    control.stop()


@pytest.mark.usefixtures("broken_keyboard")
def test_unavailable_hotkeys_are_reported_once_with_the_fix(caplog: pytest.LogCaptureFixture) -> None:
    control = HotkeyControl(ControlBus(), bindings())
    with caplog.at_level(logging.WARNING):
        assert control.start() is False
        assert control.rebind(bindings()) is False  # a reloaded profile does not repeat it
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    text = warnings[0]
    assert "global hotkeys unavailable" in text and "/dev/input" in text
    assert "root" in text and "input" in text and "control server still work" in text
    assert control.available is False


def test_profile_hotkeys_select_styles_and_run_actions(fake_keyboard: FakeKeyboard) -> None:
    profile = Profile(
        styles=[{"name": "anime", "prompt": "a", "hotkey": "ctrl+alt+1"}, {"name": "sketch", "prompt": "b", "hotkey": "ctrl+alt+2"}],
        hotkeys={"next_style": "ctrl+alt+n", "rewarm": "ctrl+alt+r"},
    )
    bus = ControlBus()
    control = HotkeyControl(bus, profile_key_bindings(profile))
    assert control.start() is True
    for combo in ("ctrl+alt+2", "ctrl+alt+1", "ctrl+alt+n", "ctrl+alt+r"):
        fake_keyboard.press(combo)
    got = collect(bus, 4)
    assert [type(a) for a in got] == [SelectStyle, SelectStyle, NextStyle, Rewarm]
    assert [got[0].name, got[1].name] == ["sketch", "anime"]
    control.stop()
