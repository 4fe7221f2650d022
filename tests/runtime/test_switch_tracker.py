"""Switch latency is measured at the sink, whichever of the engine's event and the frame comes first;
reload plans say what applies live, what restarts and what waits for the next start."""

from __future__ import annotations

from live2diff_broadcast.config import Profile
from live2diff_broadcast.config.reload import plan_reload
from live2diff_broadcast.control import StyleApplied, StyleFailed
from live2diff_broadcast.runtime.messages import StyleEvent
from live2diff_broadcast.runtime.switch_tracker import SwitchTracker
from live2diff_broadcast.runtime.telemetry import Telemetry

MS = 1_000_000


def test_latency_from_input_to_the_first_new_style_frame_written() -> None:
    telemetry = Telemetry()
    tracker = SwitchTracker(telemetry, "anime")
    tracker.on_engine_frame(9, 900 * MS)
    tracker.requested("sketch", 1, at_ns=1000 * MS, origin="hotkey")
    assert telemetry.snapshot().style_state == "switching"
    assert tracker.on_event(StyleEvent("sketch", 1, 1000 * MS, "applied", from_index=11)) == []
    assert tracker.on_engine_frame(10, 1100 * MS) == []  # still the old style
    assert telemetry.snapshot().style == "anime"
    events = tracker.on_engine_frame(11, 1250 * MS)
    assert events == [StyleApplied("sketch", 250.0, "hotkey")]
    snap = telemetry.snapshot()
    assert (snap.style, snap.style_state, snap.switches, snap.last_switch_ms) == ("sketch", "", 1, 250.0)


def test_a_frame_that_overtakes_its_event_still_counts() -> None:
    telemetry = Telemetry()
    tracker = SwitchTracker(telemetry, "anime")
    tracker.requested("sketch", 1, at_ns=0, origin="server")
    tracker.on_engine_frame(5, 80 * MS)  # shared memory beat the pipe
    assert tracker.on_event(StyleEvent("sketch", 1, 0, "applied", from_index=5)) == [StyleApplied("sketch", 80.0, "server")]


def test_superseded_requests_change_the_style_on_air_but_only_the_last_is_timed() -> None:
    telemetry = Telemetry()
    tracker = SwitchTracker(telemetry, "a")
    tracker.requested("b", 1, 0, "hotkey")
    tracker.requested("c", 2, 10 * MS, "hotkey")
    tracker.on_event(StyleEvent("b", 1, 0, "applied", from_index=3))
    assert tracker.on_engine_frame(3, 50 * MS) == [] and telemetry.snapshot().style == "b"
    tracker.on_event(StyleEvent("c", 2, 10 * MS, "preparing"))
    assert telemetry.snapshot().style_state == "preparing"
    tracker.on_event(StyleEvent("c", 2, 10 * MS, "applied", from_index=6))
    assert tracker.on_engine_frame(6, 110 * MS) == [StyleApplied("c", 100.0, "hotkey")]
    assert telemetry.snapshot().switches == 1


def test_a_failed_switch_keeps_the_style_on_air() -> None:
    telemetry = Telemetry()
    tracker = SwitchTracker(telemetry, "a")
    tracker.requested("broken", 1, 0, "hotkey")
    events = tracker.on_event(StyleEvent("broken", 1, 0, "failed", message="FileNotFoundError: x.safetensors"))
    assert events == [StyleFailed("broken", "FileNotFoundError: x.safetensors")]
    snap = telemetry.snapshot()
    assert (snap.style, snap.style_target, snap.switch_failures) == ("a", "a", 1)


def test_reload_plan() -> None:
    old = Profile(engine={"width": 64, "height": 64}, styles=[{"name": "a", "prompt": "x"}])
    prompt = plan_reload(old, old.model_copy(update={"styles": [old.styles[0].model_copy(update={"prompt": "y"})]}))
    assert not prompt.restart_engine and not prompt.restart_source and prompt.profile.style("a").prompt == "y"
    new = Profile(engine={"width": 128, "height": 64, "clip_skip": 1}, styles=[{"name": "a", "prompt": "x"}],
                  sink={"plugin": "ndi", "settings": {}})
    plan = plan_reload(old, new)
    assert plan.restart_engine and plan.profile.engine.width == 64 and plan.profile.engine.clip_skip == 1
    assert plan.profile.sink == old.sink  # at the next start
    assert any("next start" in line for line in plan.lines)
