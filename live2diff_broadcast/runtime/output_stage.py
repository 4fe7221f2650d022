"""The output stage: a constant-rate signal, one frame in every slot of the output's 1/fps grid.

The sink loop asks the output clock (``output_clock.py``) which slots are due and calls ``tick``
with their pts; every due slot gets a frame, whatever the engine does. The picture for a tick is,
in order of precedence:

0. forced passthrough (the user's switch): the newest source frame as it is, no caption;
1. **live**: an engine output newer than the last one shown;
2. **no signal**: the source delivered nothing for ``[output] no_signal_after_s``: the last
   picture (or black) with a NO SIGNAL caption. Not after a finite source ended (that is the end
   of the show: the last picture is repeated while the engine drains);
3. **held**: the last engine output again, while its engine process is up and working (live or
   re-warming) and made progress (a finished stage of a frame, a re-warm step) within
   ``[output] hold_s``, or within 4 of its own frame intervals when those are longer (a slow
   engine is not flipped to the camera between two of its frames). This covers an engine slower
   than the output and every style switch's re-warm: the viewer sees the old style frozen, then
   the cut to the new one;
4. **passthrough**: the newest source frame, with a caption saying why (loading, warming up,
   restarting, stalled). A dead or restarting engine goes here at once: a restart takes seconds,
   longer than a frozen picture should stay on air; a stuck one after the hold limit (2 s by
   default: longer than any stage of a frame or re-warm step at the default sizes, short enough
   that the camera is back before a viewer thinks the stream died).

Timing (the pts rule): a written frame's pts is its slot's time on the grid, so pts strictly
increase by one slot per frame, held frames included, and a recording has no holes. What a
frame *shows* may be older (an engine output is ``latency`` behind its capture; a held frame
repeats one); that age is the engine latency in telemetry. Going from passthrough to live shows
content one engine latency older than the last camera frame: no frame is dropped for it.

Telemetry counts live / held / passthrough / no-signal frames and the longest hold.
``_publish`` is the one write path: a ``Frame`` (picture, pts, seq) to the show's sinks
(``sinks.py``: it hands the frame to each sink's own thread and returns at once, so no sink can
delay a slot; what each sink wrote is in its own telemetry row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..config import OutputSection
from ..media.frames import Frame, now_ns
from ..media.overlay import status_caption
from ..media.resize import fit_frame
from .engine_keeper import EngineKeeper
from .source_stage import SourceStage
from .telemetry import StreamState, Telemetry
from .transport import FrameRing

HOLD_FRAMES = 4.0  # a slow engine is held across this many of its own frame intervals


class FrameWriter(Protocol):
    """Where the output's frames go: ``sinks.SinkSet`` (every sink, each on its own thread) or one
    ``sink_keeper.SinkKeeper``. ``write`` is True when the frame was taken."""

    def write(self, frame: Frame) -> bool: ...


@dataclass(frozen=True)
class Picture:
    """What one tick shows: the image at the model's size, what it is, and the state it means."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    kind: str  # "live", "held", "passthrough" or "no_signal" (telemetry)
    state: StreamState
    frame_index: int | None = None  # a live frame's engine input index


class OutputStage:
    def __init__(
        self,
        size: tuple[int, int],
        in_ring: FrameRing,
        out_ring: FrameRing,
        sink: FrameWriter,
        telemetry: Telemetry,
        settings: OutputSection | None = None,
        overlay: bool = True,
        tap: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.size = size  # (height, width) of the model, and so of every frame written
        self.in_ring, self.out_ring, self.sink, self.telemetry = in_ring, out_ring, sink, telemetry
        self.settings = settings or OutputSection()  # replaced live on a profile reload
        self.overlay = overlay
        self.tap = tap  # sees every frame written (the dock's preview keeps a reference: control/preview.py)
        self.started_at = now_ns()
        self._generation = 0  # the engine generation the held frame came from
        self._engine_image: np.ndarray | None = None  # the last engine output shown (held while it works)
        self._interval_ns: float | None = None  # the engine's recent output interval (moving average)
        self._arrived_at: int | None = None
        self._last: Picture | None = None  # the last picture written
        self._backdrop: np.ndarray | None = None  # the last picture that was not a NO SIGNAL card
        self._held_since_pts: int | None = None  # pts of the live frame a run of held frames repeats
        self._seq = 0

    def tick(self, slots: list[int], source: SourceStage, engine: EngineKeeper, forced_passthrough: bool) -> int | None:
        """Write a frame into every due slot (their pts, oldest first); returns the engine frame index when a
        new engine output was written (the switch tracker's first new-style frame)."""
        if not slots:
            return None
        picture = self._choose(now_ns(), source, engine, forced_passthrough)
        written = None
        for i, pts in enumerate(slots):
            repeat = i > 0 and picture.kind == "live"  # a late tick: the same picture again is a held frame
            kind, state = ("held", StreamState.HOLDING) if repeat else (picture.kind, picture.state)
            ok = self._publish(Frame(picture.image, pts, self._seq), kind, state)
            if ok and i == 0 and picture.kind == "live":
                written = picture.frame_index
        self._last = picture
        if picture.kind != "no_signal":
            self._backdrop = picture.image
        return written

    # --- choosing the picture -------------------------------------------------------------------

    def _choose(self, t: int, source: SourceStage, engine: EngineKeeper, forced: bool) -> Picture:
        if engine.generation != self._generation:  # a new engine process: nothing of the old one is held
            self._generation, self._engine_image, self._interval_ns, self._arrived_at = engine.generation, None, None, None
        newest = self.out_ring.poll()
        if newest is not None:
            self._note_arrival(t)
        latest = source.latest()
        frame = latest.frame
        settings = self.settings
        source_lost = t - (latest.at_ns if frame is not None else self.started_at) > settings.no_signal_after_s * 1e9
        # 0. the user switched the AI output off: the source as it is, no caption
        if forced:
            if frame is None or (source_lost and source.ended_at is None):
                return self._no_signal(engine)
            return Picture(fit_frame(frame.image, *self.size), "passthrough", StreamState.PASSTHROUGH)
        # 1. a new restyled frame
        if newest is not None and engine.working:
            self._engine_image = newest.image
            return Picture(newest.image, "live", StreamState.LIVE, newest.frame_index)
        # 2. the source is gone
        if source.ended_at is not None and self._last is not None:
            return self._repeat(self._last)  # the end of the show: the engine drains, the picture stays
        if frame is None or source_lost:
            return self._no_signal(engine)
        # 3. the engine works on the next frame (or re-warms after a switch): hold the last one
        if self._engine_image is not None and engine.working and t - engine.progress_at < self._hold_ns():
            return Picture(self._engine_image, "held", StreamState.HOLDING)
        # 4. the camera, with a caption saying why
        state = (
            StreamState.RESTARTING if engine.engine is None
            else StreamState.PASSTHROUGH if self._engine_image is not None
            else StreamState.WARMING_UP
        )
        return Picture(self._caption(fit_frame(frame.image, *self.size), state, engine.state), "passthrough", state)

    def _repeat(self, last: Picture) -> Picture:
        kind = "held" if last.kind in ("live", "held") else last.kind
        return Picture(last.image, kind, StreamState.HOLDING if kind == "held" else last.state)

    def _no_signal(self, engine: EngineKeeper) -> Picture:
        """The last picture that was not a NO SIGNAL card (or black), captioned NO SIGNAL."""
        base = self._backdrop if self._backdrop is not None else np.zeros((*self.size, 3), np.uint8)
        return Picture(self._caption(base, StreamState.NO_SIGNAL, engine.state), "no_signal", StreamState.NO_SIGNAL)

    def _note_arrival(self, t: int) -> None:
        if self._arrived_at is not None:
            gap = t - self._arrived_at
            self._interval_ns = gap if self._interval_ns is None else 0.8 * self._interval_ns + 0.2 * gap
        self._arrived_at = t

    def _hold_ns(self) -> float:
        """How long after the engine's last progress its last frame may still be held."""
        floor = self.settings.hold_s * 1e9
        return floor if self._interval_ns is None else max(floor, HOLD_FRAMES * self._interval_ns)

    def _caption(self, image: np.ndarray, state: StreamState, engine_state: str) -> np.ndarray:
        return status_caption(image, state.caption(engine_state)) if self.overlay else image

    # --- the one write path ---------------------------------------------------------------------

    def _publish(self, frame: Frame, kind: str, state: StreamState) -> bool:
        """Hand one frame to the sinks; count it by kind. False when it was not taken (a lone keeper that is down)."""
        if not self.sink.write(frame):
            return False
        self._seq += 1
        if self.tap is not None:
            self.tap(frame.image)
        self.telemetry.frame_out(kind)
        fields: dict[str, object] = {
            "state": state,
            "dropped_input": self.in_ring.stats().writer_drops,
            "dropped_output": self.out_ring.stats().reader_drops,
        }
        if kind == "held":
            if self._held_since_pts is not None:
                held_ms = (frame.pts_ns - self._held_since_pts) / 1e6
                if held_ms > self.telemetry.longest_hold_ms:
                    fields["longest_hold_ms"] = held_ms
        else:
            self._held_since_pts = frame.pts_ns if kind == "live" else None
        self.telemetry.set(**fields)
        return True
