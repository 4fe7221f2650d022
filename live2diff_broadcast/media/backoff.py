"""Exponential backoff: how long to wait before reconnecting a source, a sink or OBS, or restarting the engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential delays: initial, 2x, 4x ... capped; ``reset`` after a success."""

    initial_s: float
    max_s: float
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        delay = self._next or self.initial_s
        self._next = min(delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self._next = 0.0
