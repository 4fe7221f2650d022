"""Engine heartbeat and progress: a hung engine is found and replaced, a slow one never is.

Engine side: the engine loop keeps a ``Progress``: what it is doing (``activity``: idle, loading,
frame, rewarm, switch, flush) and when it last moved on (``at_ns``): every finished stage of the
frame path (depth, encode, UNet call, decode: ``engine/timing.py`` calls back), every re-warm step
(the same stages), every load step. A daemon thread (``start_heartbeat``) sends a ``Heartbeat``
with both every 0.25 s.

Keeper side (``HeartbeatMonitor``), with the limits of the profile's ``[watchdog]``: the engine is
hung when

- no message came for ``silent_s`` (``loading_silent_s`` while loading: reading a checkpoint may
  hold the GIL in C code): the whole process is stopped (SIGSTOP, a frozen VM);
- it is busy (a frame, a re-warm, a switch) and made no progress for ``stuck_s``: a stage stuck
  in a kernel or a lock. A slow engine finishes stages, so it is never killed for being slow;
- it is loading and finished no load step for ``loading_stuck_s`` (downloads and TensorRT builds
  legitimately take minutes).

The keeper then kills it (SIGKILL: a stopped process cannot act on anything gentler) and
restarts it with backoff, passthrough covering the gap like any other engine death.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import WatchdogSection
from ..media.frames import now_ns
from .messages import Heartbeat

HEARTBEAT_INTERVAL_S = 0.25
IDLE = "idle"
LOADING = "loading"


class Progress:
    """Engine side: what the engine loop is doing and when it last moved on (read by the heartbeat thread;
    plain attribute writes, so no lock)."""

    def __init__(self) -> None:
        self.activity = LOADING
        self.at_ns = now_ns()

    def mark(self, _step: str = "") -> None:
        """One step done (a stage of the frame path, a re-warm step, a load step)."""
        self.at_ns = now_ns()

    def begin(self, activity: str) -> None:
        self.activity, self.at_ns = activity, now_ns()

    def end(self) -> None:
        self.activity, self.at_ns = IDLE, now_ns()


def start_heartbeat(send: Callable[[Heartbeat], bool], progress: Progress, stop: threading.Event,
                    interval_s: float = HEARTBEAT_INTERVAL_S) -> threading.Thread:
    """Engine side: beat until ``stop`` is set or ``send`` fails (the parent is gone)."""

    def beat() -> None:
        while not stop.wait(interval_s):
            if not send(Heartbeat(now_ns(), progress.at_ns, progress.activity)):
                return

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    return thread


@dataclass
class HeartbeatMonitor:
    """Keeper side; ``started()`` on each engine start, ``alive()`` on any message, ``beat()`` on each
    Heartbeat, ``hung()`` per tick. ``limits`` may be replaced at any time (a profile reload)."""

    limits: WatchdogSection = field(default_factory=WatchdogSection)
    last_message_ns: int = 0
    progress_at_ns: int = 0  # the engine's last progress (its clock: CLOCK_MONOTONIC is system-wide)
    activity: str = LOADING

    def started(self) -> None:
        self.last_message_ns = self.progress_at_ns = now_ns()
        self.activity = LOADING

    def alive(self) -> None:
        """Any message from the engine proves it runs."""
        self.last_message_ns = now_ns()  # our clock, not the sender's

    def progressed(self, at_ns: int | None = None) -> None:
        """Progress seen on this side (a frame came out, the engine went live)."""
        self.progress_at_ns = max(self.progress_at_ns, now_ns() if at_ns is None else at_ns)

    def beat(self, heartbeat: Heartbeat) -> None:
        self.alive()
        self.activity = heartbeat.activity
        self.progressed(heartbeat.progress_at_ns)

    def hung(self, state: str, t_ns: int | None = None) -> str | None:
        """Why the engine counts as hung in ``state`` (the keeper's: an EngineState value), or None. Loading
        limits apply while the engine has not reported itself past loading (its state events come first)."""
        t = now_ns() if t_ns is None else t_ns
        limits, loading = self.limits, state == LOADING
        silent_s = (t - self.last_message_ns) / 1e9
        limit = limits.loading_silent_s if loading else limits.silent_s
        if silent_s > limit:
            return f"no heartbeat for {silent_s:.1f} s (limit {limit:.1f} s while {state}; [watchdog])"
        activity = LOADING if loading else self.activity
        if activity in (IDLE, LOADING) and not loading:
            return None  # idle (no input), or past loading with no heartbeat since: nothing to be stuck in
        stuck_s = (t - self.progress_at_ns) / 1e9
        limit = limits.loading_stuck_s if loading else limits.stuck_s
        if stuck_s > limit:
            return f"no progress for {stuck_s:.1f} s while {activity} (limit {limit:.1f} s; [watchdog])"
        return None
