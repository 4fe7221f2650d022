"""Supervisor side of a style switch: which request is in flight, what is on air, how long it took.

The engine reports ``StyleEvent``s; an ``applied`` one says from which output frame index on the
outputs are in the new style (engine output indices only ever increase). The switch latency is
measured when the first such frame is WRITTEN TO THE SINK: ``write time - at_ns`` of the request,
``at_ns`` being the monotonic time the control input (key press, server line) was stamped with.
The event and the frame travel separately (pipe / shared memory), so either may come first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..control.actions import Event, StyleApplied, StyleFailed
from .messages import StyleEvent
from .telemetry import Telemetry

logger = logging.getLogger(__name__)


@dataclass
class _Request:
    name: str
    request_id: int
    at_ns: int
    origin: str
    from_index: int | None = None  # known once the engine applied it


class SwitchTracker:
    def __init__(self, telemetry: Telemetry, style: str) -> None:
        self.telemetry = telemetry
        self.on_air = style
        self.pending: _Request | None = None  # the latest request not yet seen at the sink
        self._cuts: list[tuple[int, str]] = []  # (from_index, style) applied, not yet reached
        self._last_index = -1  # frame index of the last engine frame written
        self._last_write_ns = 0
        telemetry.set(style=style, style_target=style, style_state="")

    def requested(self, name: str, request_id: int, at_ns: int, origin: str) -> None:
        self.pending = _Request(name, request_id, at_ns, origin)
        self.telemetry.set(style_target=name, style_state="switching")

    def engine_restarted(self, style: str) -> None:
        """A new engine process starts in ``style``: its frame indices start again at 0."""
        self._cuts.clear()
        self._last_index = -1
        self.on_air = style
        self.pending = None
        self.telemetry.set(style=style, style_target=style, style_state="")

    def on_event(self, event: StyleEvent) -> list[Event]:
        latest = self.pending is not None and event.request_id == self.pending.request_id
        if event.status == "preparing":
            if latest:
                self.telemetry.set(style_state="preparing")
                logger.info("style %r: preparing its models in the background; %r stays on air", event.name, self.on_air)
            return []
        if event.status == "failed":
            self.telemetry.add("switch_failures")
            logger.error("style %r could not be prepared (%s); %r stays on air", event.name, event.message, self.on_air)
            if latest:
                self.pending = None
                self.telemetry.set(style_target=self.on_air, style_state="")
            return [StyleFailed(event.name, event.message)]
        self._cuts.append((event.from_index, event.name))
        if latest and self.pending is not None:
            self.pending.from_index = event.from_index
            logger.info("style %r applied by the engine (models %s, re-warm %.0f ms)", event.name,
                        "cached" if event.cached else f"prepared in {event.prepare_ms:.0f} ms" if event.prepare_ms else "in place",
                        event.rewarm_ms)
        if self._last_index >= event.from_index:  # the frame overtook the event: it is already on screen
            return self._reached(self._last_index, self._last_write_ns)
        return []

    def on_engine_frame(self, frame_index: int, written_ns: int) -> list[Event]:
        self._last_index, self._last_write_ns = frame_index, written_ns
        return self._reached(frame_index, written_ns) if self._cuts else []

    def _reached(self, frame_index: int, written_ns: int) -> list[Event]:
        reached = [cut for cut in self._cuts if frame_index >= cut[0]]
        if not reached:
            return []
        self._cuts = [cut for cut in self._cuts if frame_index < cut[0]]
        self.on_air = reached[-1][1]
        self.telemetry.set(style=self.on_air)
        request = self.pending
        if request is None or request.from_index is None or frame_index < request.from_index:
            return []
        self.pending = None
        latency_ms = (written_ns - request.at_ns) / 1e6
        self.telemetry.style_switched(request.name, latency_ms)
        self.telemetry.set(style_state="")
        logger.info("style %r on air: %.0f ms from the %s input to its first frame at the sink",
                    request.name, latency_ms, request.origin)
        return [StyleApplied(request.name, latency_ms, request.origin)]
