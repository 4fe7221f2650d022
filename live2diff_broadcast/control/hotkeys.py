"""Global hotkeys (the ``keyboard`` library): one per style and one per action, from the profile.

Global hotkeys fire whichever window has the focus (OBS, the game). ``keyboard`` needs OS access
to every key press: on Linux it reads /dev/input (root, or membership of the ``input`` group),
on macOS the Accessibility permission. Where that is missing it fails with a bare
AssertionError, an ImportError ("You must be root") or an OSError: ``HotkeyControl.start``
then logs the reason and the fix ONCE and returns False; the terminal keys and the control
server keep working.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import Profile
from .actions import Action, NextStyle, PreviousStyle, Rewarm, SelectStyle, TogglePassthrough
from .bus import ControlBus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyBinding:
    combo: str  # keyboard's syntax: "ctrl+alt+2", "f13", "shift+page down"
    make: Callable[[], Action]  # builds the action when the keys are pressed (stamps the time)
    label: str  # for logs: "style anime", "next_style"


_ACTIONS: dict[str, Callable[[], Action]] = {
    "next_style": lambda: NextStyle(origin="hotkey"),
    "previous_style": lambda: PreviousStyle(origin="hotkey"),
    "passthrough": lambda: TogglePassthrough(origin="hotkey"),
    "rewarm": lambda: Rewarm(origin="hotkey"),
}


def profile_key_bindings(profile: Profile) -> list[KeyBinding]:
    """The profile's hotkeys (``styles[].hotkey`` and ``[hotkeys]``) as actions to post."""
    bindings = []
    for b in profile.hotkey_bindings():
        if b.action == "style":
            name = str(b.style)
            bindings.append(KeyBinding(b.hotkey, lambda name=name: SelectStyle(name, origin="hotkey"), f"style {name!r}"))  # type: ignore[misc]
        elif b.action in _ACTIONS:
            bindings.append(KeyBinding(b.hotkey, _ACTIONS[b.action], b.action))
        else:
            logger.error("%s: unknown hotkey action %r (expected %s); ignored", b.field, b.action, ", ".join(_ACTIONS))
    return bindings


def unavailable_reason(exc: BaseException) -> str:
    """A user-facing explanation of ``keyboard``'s failure, with the fix for this OS."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if sys.platform.startswith("linux"):
        if isinstance(exc, AssertionError):
            detail = "no readable keyboard device under /dev/input (keyboard raised a bare AssertionError)"
        fix = ("run as root, or give your user read access to /dev/input (sudo usermod -aG input $USER, "
               "then log out and in again; on Wayland the compositor may still hide other windows' keys)")
    elif sys.platform == "darwin":
        fix = "allow this terminal under System Settings > Privacy & Security > Accessibility (or run as root)"
    else:
        fix = "install the 'keyboard' package (pip install 'live2diff-broadcast[hotkeys]')"
    if isinstance(exc, ModuleNotFoundError):
        fix = "install the 'keyboard' package (pip install 'live2diff-broadcast[hotkeys]')"
    return f"global hotkeys unavailable ({detail}); to fix: {fix}. Terminal keys and the control server still work"


class HotkeyControl:
    """Registers ``bindings`` with ``keyboard``; each press posts its action to the bus."""

    def __init__(self, bus: ControlBus, bindings: list[KeyBinding]) -> None:
        self.bus, self.bindings = bus, bindings
        self.available: bool | None = None  # None: not tried yet
        self.reason = ""
        self._handles: list[Any] = []
        self._keyboard: Any = None

    def start(self) -> bool:
        """Register every binding; False (reported once) when global hotkeys are unavailable."""
        if self.available is False:
            return False
        if not self.bindings:
            logger.info("no global hotkeys configured")
            return True
        try:
            import keyboard

            self._keyboard = keyboard
            for binding in self.bindings:
                self._add(binding)
        except (AssertionError, ImportError, OSError) as exc:
            self._unavailable(exc)
            return False
        self.available = True
        logger.info("global hotkeys: %s", ", ".join(f"{b.combo} -> {b.label}" for b in self.bindings))
        return True

    def rebind(self, bindings: list[KeyBinding]) -> bool:
        """Replace the bindings (profile reloaded)."""
        self.stop()
        self.bindings = bindings
        return self.start()

    def stop(self) -> None:
        for handle in self._handles:
            try:
                self._keyboard.remove_hotkey(handle)
            except (KeyError, ValueError):
                pass
        self._handles.clear()

    def _add(self, binding: KeyBinding) -> None:
        assert self._keyboard is not None

        def fire() -> None:
            self.bus.post(binding.make())

        try:
            self._handles.append(self._keyboard.add_hotkey(binding.combo, fire))
        except ValueError as exc:  # a key name keyboard does not know: skip this one
            logger.error("hotkey %r for %s is not a valid key combination (%s); the other hotkeys still work",
                         binding.combo, binding.label, exc)

    def _unavailable(self, exc: BaseException) -> None:
        self.stop()
        self.available = False
        self.reason = unavailable_reason(exc)
        logger.warning("%s", self.reason)
