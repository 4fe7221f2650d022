"""A test-side consumer of a real ControlBus: applies actions as the supervisor does (same StyleSelector)."""

from __future__ import annotations

import threading
from typing import Any

from live2diff_broadcast.control import ActionResult, ControlBus, TogglePassthrough
from live2diff_broadcast.control.actions import STYLE_ACTIONS
from live2diff_broadcast.control.styles import StyleSelector

STYLES = ["anime", "oil painting", "sketch"]


class Consumer:
    """Resolves every action; ``status()`` reports the style and a frame count that grows per call."""

    def __init__(self, bus: ControlBus) -> None:
        self.bus, self.selector, self.passthrough = bus, StyleSelector(STYLES, "anime"), False
        self.seen: list[Any] = []
        self.ticks = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.bus.wait(0.05)
            for action, future in self.bus.take():
                self.seen.append(action)
                if isinstance(action, STYLE_ACTIONS):
                    future.set_result(self.selector.apply(action))
                elif isinstance(action, TogglePassthrough):
                    self.passthrough = not self.passthrough if action.on is None else action.on
                    future.set_result(ActionResult(True, "ok", passthrough=self.passthrough))
                else:
                    future.set_result(ActionResult(True, "re-warming"))

    def status(self) -> dict[str, Any]:
        return {"style": self.selector.target, "passthrough": self.passthrough, "frames_out": 7}

    def live_status(self) -> dict[str, Any]:
        """Like a running show: numbers that move (for the dock's telemetry)."""
        self.ticks += 1
        return {"style": self.selector.target, "style_target": self.selector.target, "style_state": "",
                "state": "live", "output_fps": 20.0 + (self.ticks % 10) / 10, "engine_fps": 19.5,
                "latency_p50_ms": 40.0 + self.ticks % 7, "latency_p95_ms": 61.0, "backend": "pytorch",
                "backend_fallback": None, "forced_passthrough": self.passthrough, "last_switch_ms": None,
                "styles": list(STYLES), "loras": {"ink": 1.0, "paint 'wash'": 0.3},
                "live_frames": 100 + self.ticks, "held_frames": 300, "passthrough_frames": 40, "no_signal_frames": 2,
                "longest_hold_ms": 1250.0,
                "sinks": [{"label": "sinks[0] virtualcam", "state": "retrying", "written": 0, "missed": 12},
                          {"label": "sinks[1] file 'rec'", "state": "open", "written": 100 + self.ticks, "missed": 0}]}

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(2)
