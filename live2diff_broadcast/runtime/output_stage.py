"""The output stage: once per sink tick, choose the one frame to write (or none).

Every frame written carries the pts_ns its content was captured with, and pts_ns strictly
increases from one written frame to the next. In order of precedence:

0. forced passthrough (the user's switch): the newest source frame as it is, no overlay;
1. the engine is live and has an output newer than the last written frame: write it (live);
2. the engine is live and not stalled: write nothing and wait for it. Right after it goes live
   this is a gap of one engine latency: its first outputs are older than the last passthrough
   frame shown, so they are dropped (counted) to keep pts_ns increasing;
3. the engine is loading, warming up, dead / restarting, or live but stalled: silent for
   ``stall_after_s`` AND for ``stall_after_frames`` of its own recent frame intervals (so a hung
   engine at 30 fps is covered after 0.5 s, a slow one is not flipped to passthrough between two
   of its frames): the newest source frame (passthrough, with a status caption);
4. the source has delivered nothing for ``hold_after_s``: the last written image (or a black
   card) marked NO SIGNAL, stamped with the tick's own time. Not after a finite source ended:
   that is the end of the show.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..media.frames import Frame, now_ns
from ..media.overlay import status_caption
from ..media.resize import fit_frame
from .engine_keeper import EngineKeeper
from .sink_keeper import SinkKeeper
from .source_stage import SourceStage
from .telemetry import StreamState, Telemetry
from .transport import FrameRing, RingFrame


class OutputStage:
    def __init__(
        self,
        size: tuple[int, int],
        in_ring: FrameRing,
        out_ring: FrameRing,
        sink: SinkKeeper,
        telemetry: Telemetry,
        hold_after_s: float = 0.5,
        stall_after_s: float = 0.5,
        overlay: bool = True,
        stall_after_frames: float = 4.0,
        tap: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.size = size  # (height, width) of the model, and so of every frame written
        self.in_ring, self.out_ring, self.sink, self.telemetry = in_ring, out_ring, sink, telemetry
        self.hold_after_ns, self.stall_after_ns = int(hold_after_s * 1e9), int(stall_after_s * 1e9)
        self.stall_after_frames = stall_after_frames
        self._interval_ns: float | None = None  # the engine's recent output interval (moving average)
        self._arrived_at: int | None = None
        self.overlay = overlay
        self.tap = tap  # sees every frame written (the dock's preview keeps a reference: control/preview.py)
        self.started_at = now_ns()
        self._pending: RingFrame | None = None
        self._last_pts = -1
        self._last_image: np.ndarray | None = None
        self._stale_outputs = 0
        self._out_seq = 0

    def tick(self, source: SourceStage, engine: EngineKeeper, forced_passthrough: bool) -> int | None:
        """Write at most one frame; returns the engine frame index when an engine output was written."""
        t = now_ns()
        newest = self.out_ring.poll()
        if newest is not None:
            self._pending = newest
            self._note_arrival(t)
        latest = source.latest()
        frame = latest.frame
        source_lost = t - (latest.at_ns if frame is not None else self.started_at) > self.hold_after_ns
        live = engine.live
        stalled = live and t - engine.output_at > self._stall_ns() and not source_lost
        pending = self._pending
        if pending is not None and pending.pts_ns <= self._last_pts:
            self._stale_outputs += 1  # older than what is already on screen
            self._pending = pending = None
        fresh_source = frame is not None and not source_lost and frame.pts_ns > self._last_pts
        # 0. the user switched the AI output off: the source as it is, no overlay
        if forced_passthrough:
            if fresh_source and frame is not None:
                self._write(fit_frame(frame.image, *self.size), frame.pts_ns, "passthrough", StreamState.PASSTHROUGH)
            return None
        # 1. restyled frame
        if live and pending is not None:
            self._pending = None
            written = self._write(pending.image, pending.pts_ns, "engine", StreamState.LIVE)
            return pending.frame_index if written else None
        # 2. the engine sets the pace
        if live and not stalled and not source_lost:
            self.telemetry.set(state=StreamState.LIVE)
            return None
        # 3. passthrough
        if fresh_source and frame is not None:
            state = (
                StreamState.PASSTHROUGH if stalled
                else StreamState.RESTARTING if engine.engine is None
                else StreamState.WARMING_UP
            )
            image = fit_frame(frame.image, *self.size)
            self._write(self._caption(image, state, engine.state), frame.pts_ns, "passthrough", state)
            return None
        # 4. no signal
        if source_lost and source.ended_at is None:
            base = self._last_image if self._last_image is not None else np.zeros((*self.size, 3), np.uint8)
            self._write(self._caption(base, StreamState.NO_SIGNAL, engine.state), max(t, self._last_pts + 1), "hold",
                        StreamState.NO_SIGNAL)
        return None

    def _note_arrival(self, t: int) -> None:
        if self._arrived_at is not None:
            gap = t - self._arrived_at
            self._interval_ns = gap if self._interval_ns is None else 0.8 * self._interval_ns + 0.2 * gap
        self._arrived_at = t

    def _stall_ns(self) -> float:
        """How long a live engine may stay silent before passthrough covers for it."""
        if self._interval_ns is None:
            return self.stall_after_ns
        return max(self.stall_after_ns, self.stall_after_frames * self._interval_ns)

    def _write(self, image: np.ndarray, pts_ns: int, kind: str, state: StreamState) -> bool:
        if not self.sink.write(Frame(image, pts_ns, self._out_seq)):
            return False
        self._out_seq += 1
        self._last_pts = pts_ns
        if kind != "hold":
            self._last_image = image
        if self.tap is not None:
            self.tap(image)
        self.telemetry.frame_out(passthrough=kind != "engine")
        self.telemetry.set(
            state=state,
            dropped_input=self.in_ring.stats().writer_drops,
            dropped_output=self.out_ring.stats().reader_drops + self._stale_outputs,
        )
        return True

    def _caption(self, image: np.ndarray, state: StreamState, engine_state: str) -> np.ndarray:
        return status_caption(image, state.caption(engine_state)) if self.overlay else image

