"""Heartbeat monitor: silence past the timeout (longer while loading) or a stuck live loop is a hang."""

from __future__ import annotations

from live2diff_broadcast.runtime.heartbeat import HeartbeatMonitor
from live2diff_broadcast.runtime.messages import Heartbeat

S = 1_000_000_000


def test_silence_is_a_hang_after_the_timeout_for_the_state() -> None:
    m = HeartbeatMonitor(timeout_s=3.0, loading_timeout_s=60.0, loop_timeout_s=30.0)
    m.last_beat_ns = m.loop_at_ns = 100 * S
    assert m.hung("live", 102 * S) is None
    assert "no heartbeat for 3.5 s" in (m.hung("live", int(103.5 * S)) or "")
    assert m.hung("loading", 150 * S) is None  # loading a checkpoint may hold the GIL
    assert m.hung("loading", 161 * S) is not None


def test_a_stuck_loop_is_a_hang_only_while_live() -> None:
    m = HeartbeatMonitor(timeout_s=3.0, loading_timeout_s=60.0, loop_timeout_s=30.0)
    m.started()
    m.beat(Heartbeat(0, m.loop_at_ns - 40 * S))  # an older loop time never moves it back
    m.loop_at_ns -= 40 * S
    assert "engine loop stuck" in (m.hung("live") or "")
    assert m.hung("warming_up") is None
