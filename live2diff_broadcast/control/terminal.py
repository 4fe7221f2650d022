"""Keys typed in the terminal that runs ``run``: no permissions needed, works over SSH.

    1-9   select style 1-9 (the profile's order)      n / p   next / previous style
    space passthrough on/off                           r       re-warm the current style
    q     quit (like Ctrl+C)                           ?       show these keys

Active only when stdin is a TTY. On POSIX the terminal is put in cbreak mode (keys arrive one by
one, not echoed; Ctrl+C still interrupts) and restored on ``stop()``, whatever happened. On Windows
keys are read with ``msvcrt`` (the console needs no mode change; untested here, no Windows machine).
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any

from .actions import Action, NextStyle, PreviousStyle, Quit, Rewarm, SelectStyle, TogglePassthrough
from .bus import ControlBus

if sys.platform != "win32":  # the POSIX terminal modules (mypy --platform win32 checks the other branch)
    import termios
    import tty

logger = logging.getLogger(__name__)

KEYS_HELP = "keys: 1-9 style, n/p next/previous, space passthrough, r re-warm, q quit, ? help"


def action_for_key(key: str, styles: list[str]) -> Action | None:
    """One typed character -> its action (None: not a control key, or no such style)."""
    if key.isdigit() and key != "0":
        index = int(key) - 1
        if index >= len(styles):
            logger.warning("no style %s: the profile has %d styles (%s)", key, len(styles), ", ".join(styles))
            return None
        return SelectStyle(styles[index], origin="terminal")
    simple: dict[str, Callable[[], Action]] = {
        "n": lambda: NextStyle(origin="terminal"),
        "p": lambda: PreviousStyle(origin="terminal"),
        " ": lambda: TogglePassthrough(origin="terminal"),
        "r": lambda: Rewarm(origin="terminal"),
        "q": lambda: Quit(origin="terminal"),
    }
    make = simple.get(key.lower())
    if make is not None:
        return make()
    if key in ("?", "h"):
        logger.info("%s; styles: %s", KEYS_HELP, ", ".join(f"{i + 1}={s}" for i, s in enumerate(styles[:9])))
    return None


class TerminalControl:
    """Reads single keys from ``fd`` (default: stdin) in a thread; ``stop()`` restores the terminal."""

    def __init__(self, bus: ControlBus, styles: Callable[[], list[str]], fd: int | None = None) -> None:
        self.bus, self.styles = bus, styles
        self.fd = fd if fd is not None else _stdin_fd()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None  # termios attributes to restore

    def start(self) -> bool:
        """False (and nothing changed) when ``fd`` is not a terminal."""
        if self.fd < 0 or not os.isatty(self.fd):
            logger.debug("stdin is not a terminal: terminal keys off")
            return False
        if sys.platform == "win32":
            self._thread = threading.Thread(target=self._loop_windows, name="terminal-keys", daemon=True)
        else:
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
            self._thread = threading.Thread(target=self._loop_posix, name="terminal-keys", daemon=True)
        self._thread.start()
        logger.info("terminal %s", KEYS_HELP)
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        self._restore()

    def _restore(self) -> None:
        saved, self._saved = self._saved, None
        if saved is not None and sys.platform != "win32":
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except termios.error as exc:
                logger.warning("could not restore the terminal settings of fd %d: %s (run 'reset')", self.fd, exc)

    def _key(self, key: str) -> None:
        action = action_for_key(key, self.styles())
        if action is not None:
            self.bus.post(action)

    def _loop_posix(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self.fd, 64)
                if not data:
                    return  # the terminal closed
                for key in data.decode("utf-8", "ignore"):
                    self._key(key)
        except OSError as exc:
            logger.warning("terminal keys stopped: %s", exc)
        finally:
            self._restore()

    def _loop_windows(self) -> None:
        if sys.platform == "win32":
            import msvcrt

            while not self._stop.wait(0.05):
                while msvcrt.kbhit():
                    self._key(msvcrt.getwch())


def _stdin_fd() -> int:
    """stdin's descriptor, or -1 when stdin is not a real file (replaced, closed, captured)."""
    try:
        return sys.stdin.fileno() if sys.stdin is not None else -1
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return -1
