"""What the dock page shows besides telemetry: the profile's styles and the keys that are really live.

A key label is only shown when pressing that key does something: global hotkeys when the keyboard
library registered them (``HotkeyControl.available``), the terminal's 1-9 when the terminal keys
run. On a machine without /dev/input the dock shows no ctrl+alt labels instead of promising them.
"""

from __future__ import annotations

from typing import Any

from ..config import Profile

ACTIONS = ("next_style", "previous_style", "passthrough", "rewarm")


def dock_controls(profile: Profile, hotkeys_live: bool = False, terminal_keys: bool = False) -> dict[str, Any]:
    """``{"styles": [{"name", "hotkey", "terminal_key"}], "hotkeys": {"next_style": "ctrl+alt+right", ...},
    "hotkeys_live": bool}`` (JSON-ready); hotkeys are None unless live, terminal keys None unless running."""
    hotkeys = profile.hotkeys
    return {
        "styles": [{"name": s.name, "hotkey": s.hotkey if hotkeys_live else None,
                    "terminal_key": str(i + 1) if terminal_keys and i < 9 else None}
                   for i, s in enumerate(profile.styles)],
        "hotkeys": {name: getattr(hotkeys, name) if hotkeys_live else None for name in ACTIONS},
        "hotkeys_live": hotkeys_live,
    }
