"""One log line per kind of refused input per interval, however fast the input comes.

A flood of bad packets or requests must not become a flood of log lines (disk, terminal, CPU):
the first of a kind is logged at once; later ones within ``every_s`` are counted, and the next
line of that kind says how many were dropped since. Thread-safe (OSC reader thread, the server's
event loop and the bus's callbacks all log through one).
"""

from __future__ import annotations

import logging
import threading
import time


class ThrottledLog:
    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger, self.every_s = logger, every_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}  # kind -> lines suppressed since the last logged one
        self.counts: dict[str, int] = {}  # kind -> every occurrence (for status and tests)

    def log(self, level: int, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``kind`` was logged within ``every_s``; True if it was logged."""
        now = time.monotonic()
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if now - self._last.get(kind, -self.every_s) < self.every_s:
                self._quiet[kind] = self._quiet.get(kind, 0) + 1
                return False
            self._last[kind] = now
            quiet = self._quiet.pop(kind, 0)
        suffix = f" ({quiet} more of this kind in the last {self.every_s:.0f} s, not logged)" if quiet else ""
        self.logger.log(level, message + suffix, *args)
        return True

    def warning(self, kind: str, message: str, *args: object) -> bool:
        return self.log(logging.WARNING, kind, message, *args)

    def error(self, kind: str, message: str, *args: object) -> bool:
        return self.log(logging.ERROR, kind, message, *args)
