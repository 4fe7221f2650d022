"""The words a viewer reads on passthrough and no-signal frames, per stream state."""

from live2diff_broadcast.runtime.telemetry import StreamState


def test_each_passthrough_state_says_why_the_ai_is_off():
    assert StreamState.WARMING_UP.caption("loading") == "PASSTHROUGH: engine loading"
    assert StreamState.RESTARTING.caption("dead") == "PASSTHROUGH: engine restarting"
    assert StreamState.PASSTHROUGH.caption("live") == "PASSTHROUGH: engine stalled"
    assert StreamState.NO_SIGNAL.caption("live") == "NO SIGNAL"
    assert StreamState.STARTING.caption("loading") == "starting"  # any other state: its name
