"""Live numbers about a running broadcast: rates, engine latency, drops, state.

``Telemetry`` is written by the supervisor's threads and read by anyone through
``snapshot()``, an immutable ``TelemetrySnapshot``. Rates are over the last
``window_s`` seconds; latency percentiles over the last ``latency_samples`` frames.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..media.frames import now_ns

STALE_FRAMES_NOTE = (
    "'stale skipped' counts frames passed over on purpose: the engine always takes the newest camera frame "
    "and the output always shows the newest engine frame, so a slow engine never builds up delay. "
    "At 30 fps in and 2 fps out, 28 of every 30 camera frames are skipped"
)


class StreamState(StrEnum):
    """What the sink is showing and why."""

    STARTING = "starting"  # nothing written yet
    WARMING_UP = "warming_up"  # passthrough: the engine is loading or warming up
    LIVE = "live"  # restyled frames from the engine
    HOLDING = "holding"  # the last restyled frame, repeated: the engine works on the next (a re-warm, a slow frame)
    PASSTHROUGH = "passthrough"  # passthrough: the engine is up but not producing (stalled)
    RESTARTING = "restarting"  # passthrough: the engine died and is being restarted
    NO_SIGNAL = "no_signal"  # the source is lost: holding the last frame / a no-signal card
    STOPPED = "stopped"

    def caption(self, engine_state: str) -> str:
        """The words on a passthrough / no-signal frame (``media.overlay.status_caption`` draws them)."""
        return {
            StreamState.WARMING_UP: f"PASSTHROUGH: engine {engine_state.replace('_', ' ')}",
            StreamState.RESTARTING: "PASSTHROUGH: engine restarting",
            StreamState.PASSTHROUGH: "PASSTHROUGH: engine stalled",
            StreamState.NO_SIGNAL: "NO SIGNAL",
        }.get(self, self.value)


@dataclass(frozen=True)
class TelemetrySnapshot:
    state: StreamState
    engine_state: str  # loading / warming_up / live / stopped / dead
    input_fps: float  # frames from the source
    output_fps: float  # frames written to the sink
    engine_fps: float  # frames out of the engine
    latency_p50_ms: float | None  # engine output time - capture time
    latency_p95_ms: float | None
    # Latest-frame-wins, by design (STALE_FRAMES_NOTE): neither is a fault, and neither ever queues up delay.
    dropped_input: int  # camera frames the engine never took: a newer one came while it worked
    dropped_output: int  # engine outputs the sink never showed: a newer one, or one older than the frame on screen
    frames_in: int
    frames_out: int  # every output slot filled (handed to the sinks): live + held + passthrough + no_signal
    passthrough_frames: int  # the camera instead of the engine (loading, restarting, stalled, or forced)
    engine_restarts: int
    source_reconnects: int
    sink_reopens: int = 0  # the sink failed repeatedly and was closed and opened again
    engine_hangs: int = 0  # engines killed because their heartbeat stopped (heartbeat.py)
    style: str = ""  # the style on air (its first frame reached the sink)
    style_target: str = ""  # the last requested style
    style_state: str = ""  # "" on air / "switching" / "preparing" (models loading, old style on air)
    switches: int = 0  # switches that reached the sink
    switch_failures: int = 0
    last_switch_ms: float | None = None  # control input (key press) -> first frame in the new style at the sink
    switch_p50_ms: float | None = None
    switch_max_ms: float | None = None
    forced_passthrough: bool = False  # the user switched the AI output off
    backend: str = ""  # the UNet backend actually running: pytorch / compiled / onnxruntime / tensorrt
    backend_fallback: str | None = None  # why the requested backend is not the one running
    loras: dict[str, float] = dataclasses.field(default_factory=dict)  # LoRA faders on air, as the engine holds them
    sink: str = ""  # what the sink is doing (Sink.detail), e.g. "stream h264 (libx264 zerolatency) -> udp://..."; " | " between sinks
    sink_dropped: int = 0  # frames the sinks took but never published (latest-frame-wins sender), all sinks
    # One row per sink, in profile order: label ("sinks[1] ndi 'studio'"), state (opening / open / retrying /
    # stalled / closed), written, missed (slots it got no frame for: down, or too slow), dropped, reopens, error
    # (the last failure, kept after a reopen; None: none yet)
    sinks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    live_frames: int = 0  # a new restyled frame from the engine
    held_frames: int = 0  # the last restyled frame again (the engine is slower than the output, or re-warming)
    no_signal_frames: int = 0  # NO SIGNAL cards (the source is lost)
    longest_hold_ms: float = 0.0  # the longest run of held frames so far (a re-warm, a slow frame), in ms
    slots_skipped: int = 0  # output slots no frame was written for (the sink loop itself was frozen > 1 s)
    blend: dict[str, Any] | None = None  # the fader held between two styles: {"a", "b", "t"} (None: none)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the control server's ``status``)."""
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    def status_line(self) -> str:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}"

        return (
            f"[{self.state.value}] in {self.input_fps:4.1f} fps  out {self.output_fps:4.1f} fps  "
            f"engine {self.engine_state} {self.engine_fps:4.1f} fps  "
            f"latency p50 {ms(self.latency_p50_ms)} / p95 {ms(self.latency_p95_ms)} ms  "
            f"stale skipped in {self.dropped_input} out {self.dropped_output}  "
            f"restarts {self.engine_restarts}  reconnects {self.source_reconnects}"
            + (f"  style {self.style}" if self.style else "")
            + (f" -> {self.style_target} ({self.style_state})" if self.style_state else "")
            + (f"  blend {self.blend['a']}->{self.blend['b']} {self.blend['t']:.2f}" if self.blend else "")
            + (f"  switch {self.last_switch_ms:.0f} ms" if self.last_switch_ms is not None else "")
            + ("  PASSTHROUGH (forced)" if self.forced_passthrough else "")
            + (f"  backend {self.backend}" if self.backend else "")
            + ("  (BACKEND FALLBACK)" if self.backend_fallback else "")
            + ("  (SINK FALLBACK)" if "FALLBACK" in self.sink else "")
            + (f"  sink drops {self.sink_dropped}" if self.sink_dropped else "")
            + self._sinks_text()
            + f"  frames live {self.live_frames} held {self.held_frames} passthrough {self.passthrough_frames}"
            + (f" no-signal {self.no_signal_frames}" if self.no_signal_frames else "")
        )

    def _sinks_text(self) -> str:
        """Per sink, when there are several or one is not writing: "  sinks: sinks[0] file 812, sinks[1] ndi
        RETRYING 640 (missed 95)"."""
        if len(self.sinks) < 2 and all(row.get("state") == "open" for row in self.sinks):
            return ""
        parts = []
        for row in self.sinks:
            state = row.get("state", "")
            flag = "" if state == "open" else f" {str(state).upper()}"
            missed = f" (missed {row['missed']})" if row.get("missed") else ""
            parts.append(f"{row.get('label', '?')}{flag} {row.get('written', 0)}{missed}")
        return "  sinks: " + ", ".join(parts)


class _Rate:
    """Frames per second from the arrival times of the recent frames.

    Over the last ``window`` when at least ``min_frames`` fell in it (a fast stream reacts at once),
    else over the frames of the last ``horizon``: a 0.5 fps engine has one frame per 2 s window, and
    a plain count over 2 s read 0.0, 0.5, 0.0 ... while frames flowed (the dock showed LIVE at
    0.0 fps). The rate is the frames between the first and the last arrival over their time span;
    once nothing has come for more than twice the usual interval it falls as 1 / (time since the
    last frame), so a stall shows at once, and reaches 0 when the horizon holds no frame.
    """

    def __init__(self, window_ns: int, horizon_ns: int = 10_000_000_000, min_frames: int = 4) -> None:
        self.window_ns, self.horizon_ns, self.min_frames = window_ns, max(horizon_ns, window_ns), min_frames
        self.times: deque[int] = deque()

    def tick(self, t: int) -> None:
        self.times.append(t)
        self._trim(t)

    def fps(self, t: int) -> float:
        self._trim(t)
        times = self.times
        recent = sum(1 for x in times if x >= t - self.window_ns)
        count = recent if recent >= self.min_frames else len(times)
        if count < 2:
            return 0.0
        first, last = times[len(times) - count], times[-1]
        interval = (last - first) / (count - 1)
        if interval <= 0:
            return count * 1e9 / self.window_ns
        idle = t - last
        return 1e9 / max(interval, idle) if idle > 2 * interval else 1e9 / interval

    def _trim(self, t: int) -> None:
        while self.times and self.times[0] < t - self.horizon_ns:
            self.times.popleft()


class Telemetry:
    """Thread-safe counters; ``snapshot()`` is cheap and can be called from any thread."""

    def __init__(self, window_s: float = 2.0, latency_samples: int = 120) -> None:
        window_ns = int(window_s * 1e9)
        self._lock = threading.Lock()
        self._in, self._out, self._engine = _Rate(window_ns), _Rate(window_ns), _Rate(window_ns)
        self._latency: deque[int] = deque(maxlen=latency_samples)
        self.state = StreamState.STARTING
        self.engine_state = "starting"
        self.frames_in = self.frames_out = self.passthrough_frames = 0
        self.dropped_input = self.dropped_output = 0
        self.engine_restarts = self.source_reconnects = self.sink_reopens = self.engine_hangs = 0
        self.style = self.style_target = self.style_state = ""
        self.switches = self.switch_failures = 0
        self.forced_passthrough = False
        self.backend = ""
        self.backend_fallback: str | None = None
        self.loras: dict[str, float] = {}
        self.sink = ""
        self.sink_dropped = 0
        self.sinks: list[dict[str, Any]] = []
        self.live_frames = self.held_frames = self.no_signal_frames = 0
        self.longest_hold_ms = 0.0
        self.slots_skipped = 0
        self.blend: dict[str, Any] | None = None
        self._switch_ms: deque[float] = deque(maxlen=latency_samples)

    def style_switched(self, style: str, latency_ms: float) -> None:
        with self._lock:
            self.style, self.switches = style, self.switches + 1
            self._switch_ms.append(latency_ms)

    def frame_in(self) -> None:
        with self._lock:
            self.frames_in += 1
            self._in.tick(now_ns())

    def frame_out(self, kind: str) -> None:
        """One frame written: ``kind`` is "live", "held", "passthrough" or "no_signal"."""
        with self._lock:
            self.frames_out += 1
            if kind == "live":
                self.live_frames += 1
            elif kind == "held":
                self.held_frames += 1
            elif kind == "passthrough":
                self.passthrough_frames += 1
            elif kind == "no_signal":
                self.no_signal_frames += 1
            else:
                raise ValueError(f"frame kind must be live, held, passthrough or no_signal, got {kind!r}")
            self._out.tick(now_ns())

    def engine_frame(self, latency_ns: int) -> None:
        with self._lock:
            self._latency.append(latency_ns)
            self._engine.tick(now_ns())

    def set(self, **fields: object) -> None:
        """Update plain fields (state, engine_state, drop counts, restart counts)."""
        with self._lock:
            for name, value in fields.items():
                if not hasattr(self, name) or name.startswith("_"):
                    raise AttributeError(f"Telemetry has no field {name!r}")
                setattr(self, name, value)

    def sink_update(self, index: int, **fields: object) -> None:
        """Update sink ``index``'s row (see ``TelemetrySnapshot.sinks``); ``sink`` and ``sink_dropped`` follow."""
        with self._lock:
            while len(self.sinks) <= index:
                self.sinks.append({})
            self.sinks[index].update(fields)
            self.sink = " | ".join(str(row["detail"]) for row in self.sinks if row.get("detail"))
            self.sink_dropped = sum(int(row.get("dropped") or 0) for row in self.sinks)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> TelemetrySnapshot:
        with self._lock:
            t = now_ns()
            lat = sorted(self._latency)
            return TelemetrySnapshot(
                state=self.state,
                engine_state=self.engine_state,
                input_fps=self._in.fps(t),
                output_fps=self._out.fps(t),
                engine_fps=self._engine.fps(t),
                latency_p50_ms=_percentile(lat, 0.50),
                latency_p95_ms=_percentile(lat, 0.95),
                dropped_input=self.dropped_input,
                dropped_output=self.dropped_output,
                frames_in=self.frames_in,
                frames_out=self.frames_out,
                passthrough_frames=self.passthrough_frames,
                engine_restarts=self.engine_restarts,
                source_reconnects=self.source_reconnects,
                sink_reopens=self.sink_reopens,
                engine_hangs=self.engine_hangs,
                style=self.style,
                style_target=self.style_target,
                style_state=self.style_state,
                switches=self.switches,
                switch_failures=self.switch_failures,
                last_switch_ms=self._switch_ms[-1] if self._switch_ms else None,
                switch_p50_ms=sorted(self._switch_ms)[len(self._switch_ms) // 2] if self._switch_ms else None,
                switch_max_ms=max(self._switch_ms) if self._switch_ms else None,
                forced_passthrough=self.forced_passthrough,
                backend=self.backend,
                backend_fallback=self.backend_fallback,
                loras=dict(self.loras),
                sink=self.sink,
                sink_dropped=self.sink_dropped,
                sinks=[dict(row) for row in self.sinks],
                live_frames=self.live_frames,
                held_frames=self.held_frames,
                no_signal_frames=self.no_signal_frames,
                longest_hold_ms=self.longest_hold_ms,
                slots_skipped=self.slots_skipped,
                blend=None if self.blend is None else dict(self.blend),
            )


def _percentile(sorted_ns: list[int], q: float) -> float | None:
    if not sorted_ns:
        return None
    i = min(len(sorted_ns) - 1, round(q * (len(sorted_ns) - 1)))
    return sorted_ns[i] / 1e6
