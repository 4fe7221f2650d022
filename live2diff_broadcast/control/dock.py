"""What the dock page shows besides telemetry: the profile's styles with their hotkeys, and the action hotkeys."""

from __future__ import annotations

from typing import Any

from ..config import Profile


def dock_controls(profile: Profile) -> dict[str, Any]:
    """``{"styles": [{"name", "hotkey"}], "hotkeys": {"next_style": "ctrl+alt+right", ...}}`` (JSON-ready)."""
    hotkeys = profile.hotkeys
    return {
        "styles": [{"name": s.name, "hotkey": s.hotkey} for s in profile.styles],
        "hotkeys": {name: getattr(hotkeys, name) for name in ("next_style", "previous_style", "passthrough", "rewarm")},
    }
