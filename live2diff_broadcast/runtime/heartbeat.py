"""Engine heartbeat: a hung engine (stopped, deadlocked, wedged in a driver) is found and replaced.

Engine side (``start_heartbeat``): a daemon thread sends a ``Heartbeat`` every ``interval_s``
carrying the time the engine loop last went round. Keeper side (``HeartbeatMonitor``): the engine
is hung when

- no heartbeat came for ``timeout_s`` (the whole process is stopped: SIGSTOP, a frozen VM, the
  GIL held in C code), or, while LOADING, for ``loading_timeout_s`` (loading a checkpoint or
  building a TensorRT engine may hold the GIL in C code for a while);
  Any message from the engine counts as a beat; the first one comes once it has imported its
  libraries, so until then (``loading``) the longer limit applies;
- the engine is live but its loop has not gone round for ``loop_timeout_s`` (a frame or a
  re-warm stuck in a kernel or a lock; the loop otherwise turns at least every 50 ms).

The keeper then kills it (SIGKILL: a stopped process cannot act on anything gentler) and
restarts it with backoff, passthrough covering the gap like any other engine death.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..media.frames import now_ns
from .messages import Heartbeat

HEARTBEAT_INTERVAL_S = 0.25
HEARTBEAT_TIMEOUT_S = 3.0  # stated in docs/reliability.md
LOADING_TIMEOUT_S = 60.0
LOOP_TIMEOUT_S = 30.0


def start_heartbeat(send: Callable[[Heartbeat], bool], loop_at: Callable[[], int],
                    stop: threading.Event, interval_s: float = HEARTBEAT_INTERVAL_S) -> threading.Thread:
    """Engine side: beat until ``stop`` is set or ``send`` fails (the parent is gone)."""

    def beat() -> None:
        while not stop.wait(interval_s):
            if not send(Heartbeat(now_ns(), loop_at())):
                return

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    return thread


@dataclass
class HeartbeatMonitor:
    """Keeper side; ``started()`` on each engine start, ``beat()`` on each Heartbeat, ``hung()`` per tick."""

    timeout_s: float = HEARTBEAT_TIMEOUT_S
    loading_timeout_s: float = LOADING_TIMEOUT_S
    loop_timeout_s: float = LOOP_TIMEOUT_S
    last_beat_ns: int = 0
    loop_at_ns: int = 0

    def started(self) -> None:
        self.last_beat_ns = self.loop_at_ns = now_ns()

    def alive(self) -> None:
        """Any message from the engine proves it runs."""
        self.last_beat_ns = now_ns()  # our clock, not the sender's

    def beat(self, heartbeat: Heartbeat) -> None:
        self.alive()
        self.loop_at_ns = max(self.loop_at_ns, heartbeat.loop_at_ns)

    def hung(self, state: str, t_ns: int | None = None) -> str | None:
        """Why the engine counts as hung in ``state`` (an EngineState value), or None."""
        t = now_ns() if t_ns is None else t_ns
        silent_s = (t - self.last_beat_ns) / 1e9
        limit = self.loading_timeout_s if state == "loading" else self.timeout_s
        if silent_s > limit:
            return f"no heartbeat for {silent_s:.1f} s (limit {limit:.1f} s while {state})"
        stuck_s = (t - self.loop_at_ns) / 1e9
        if state == "live" and stuck_s > self.loop_timeout_s:
            return f"engine loop stuck for {stuck_s:.1f} s while live (limit {self.loop_timeout_s:.1f} s)"
        return None
