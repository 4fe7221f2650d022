"""The dock's key labels: only keys that do something when pressed."""

from __future__ import annotations

from live2diff_broadcast.config import Profile
from live2diff_broadcast.control.dock import dock_controls


def profile() -> Profile:
    return Profile(styles=[{"name": "a", "prompt": "x", "hotkey": "ctrl+alt+1"}, {"name": "b", "prompt": "y"}],
                   hotkeys={"next_style": "ctrl+alt+n"})


def test_hotkey_labels_only_when_global_hotkeys_are_live() -> None:
    live = dock_controls(profile(), hotkeys_live=True, terminal_keys=True)
    assert live["styles"] == [{"name": "a", "hotkey": "ctrl+alt+1", "terminal_key": "1"},
                              {"name": "b", "hotkey": None, "terminal_key": "2"}]
    assert live["hotkeys"]["next_style"] == "ctrl+alt+n" and live["hotkeys_live"] is True
    dead = dock_controls(profile(), hotkeys_live=False, terminal_keys=False)
    assert [s["hotkey"] for s in dead["styles"]] == [None, None]
    assert [s["terminal_key"] for s in dead["styles"]] == [None, None]
    assert set(dead["hotkeys"].values()) == {None} and dead["hotkeys_live"] is False
