"""The watchdog: silence past the limit (longer while loading), or busy without progress, is a hang;
a slow engine that keeps finishing stages is not. Limits come from the profile's [watchdog]."""

from __future__ import annotations

import threading

from live2diff_broadcast.config import WatchdogSection
from live2diff_broadcast.runtime.heartbeat import HeartbeatMonitor, Progress, start_heartbeat
from live2diff_broadcast.runtime.messages import Heartbeat

S = 1_000_000_000
LIMITS = WatchdogSection(silent_s=3.0, loading_silent_s=60.0, stuck_s=30.0, loading_stuck_s=600.0)


def _monitor(activity: str, at: int) -> HeartbeatMonitor:  # the keeper's state: "loading" or "live"
    m = HeartbeatMonitor(LIMITS)
    m.last_message_ns = m.progress_at_ns = at
    m.activity = activity
    return m


def test_silence_is_a_hang_after_the_limit_for_the_activity() -> None:
    m = _monitor("idle", 100 * S)
    assert m.hung("live", 102 * S) is None
    assert "no heartbeat for 3.5 s" in (m.hung("live", int(103.5 * S)) or "")
    loading = _monitor("loading", 100 * S)
    assert loading.hung("loading", 150 * S) is None  # loading a checkpoint may hold the GIL
    assert loading.hung("loading", 161 * S) is not None
    # live already (its state event came) but stopped before a heartbeat said it left loading: the live limit
    assert "no heartbeat" in (loading.hung("live", int(103.5 * S)) or "")


def test_busy_without_progress_is_a_hang_busy_with_progress_is_not() -> None:
    m = _monitor("rewarm", 100 * S)
    for t in range(101, 200):  # a slow re-warm: a step every second for 100 s, beats all along
        m.beat(Heartbeat(t * S, t * S, "rewarm"))
        assert m.hung("live", t * S) is None
    m.beat(Heartbeat(240 * S, 199 * S, "rewarm"))  # beating, but no step since 199 s
    assert "no progress for 41.0 s while rewarm" in (m.hung("live", 240 * S) or "")
    m.beat(Heartbeat(240 * S, 199 * S, "idle"))  # an idle engine (no input) is not stuck
    assert m.hung("live", 240 * S) is None


def test_limits_are_settings_and_an_old_progress_time_never_moves_it_back() -> None:
    m = _monitor("frame", 100 * S)
    m.beat(Heartbeat(101 * S, 50 * S, "frame"))
    assert m.progress_at_ns == 100 * S
    assert m.hung("live", 125 * S) is None
    m.limits = WatchdogSection(stuck_s=20.0)  # a profile reload applies at once
    assert "limit 20.0 s" in (m.hung("live", 125 * S) or "")


def test_the_engine_side_sends_its_progress_and_activity() -> None:
    progress, sent, stop = Progress(), [], threading.Event()
    got = threading.Event()

    def send(beat: Heartbeat) -> bool:
        sent.append(beat)
        got.set()
        return True

    progress.begin("frame")
    thread = start_heartbeat(send, progress, stop, interval_s=0.01)
    assert got.wait(30)
    stop.set()
    thread.join(30)
    assert sent[0].activity == "frame" and sent[0].progress_at_ns == progress.at_ns
