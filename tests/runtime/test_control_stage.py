"""The control stage: actions taken between ticks, style requests folded, bad blends and LoRA moves refused
with the reason (no engine runs here: the engine keeper is never started, so every send is refused)."""

from __future__ import annotations

import multiprocessing

import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.control.actions import (
    BlendStyles,
    NextStyle,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)
from live2diff_broadcast.control.bus import ControlBus
from live2diff_broadcast.media.backoff import Backoff
from live2diff_broadcast.runtime.control_stage import ControlStage
from live2diff_broadcast.runtime.engine_keeper import EngineKeeper
from live2diff_broadcast.runtime.messages import EngineSpec
from live2diff_broadcast.runtime.switch_tracker import SwitchTracker
from live2diff_broadcast.runtime.telemetry import Telemetry


def no_engine_spec() -> EngineSpec:
    pytest.fail("no engine starts in these tests")


def stage(profile: Profile) -> ControlStage:
    telemetry, style = Telemetry(), profile.style().name
    engine = EngineKeeper(no_engine_spec, multiprocessing.get_context("spawn"), telemetry, Backoff(0.1, 1.0),
                          lambda event: None)
    return ControlStage(profile, style, ControlBus(), engine, telemetry, SwitchTracker(telemetry, style),
                        stop=lambda: None, restart_source=lambda: None)


def test_the_control_stage_refuses_bad_blends_with_the_reason() -> None:
    profile = Profile(styles=[{"name": "s0", "prompt": "a"}, {"name": "s1", "prompt": "b", "strength": 0.6},
                              {"name": "s3", "prompt": "c", "t_index_list": [10, 20, 30]}])
    controls = stage(profile)
    assert controls.restart_message().name == "s0"  # the engine (re)starts in s0: its models are on air
    unknown = controls._control(BlendStyles("s0", "nope", 0.5))
    assert not unknown.ok and "no style named 'nope'; styles: s0, s1, s3" in unknown.message
    out_of_range = controls._control(BlendStyles("s0", "s1", 2.0))
    assert not out_of_range.ok and "must be a number in [0, 1]" in out_of_range.message
    steps = controls._control(BlendStyles("s0", "s3", 0.5))
    assert not steps.ok and "cannot blend styles with 2 and 3 denoising steps" in steps.message
    no_engine = controls._control(BlendStyles("s0", "s1", 0.5))  # valid, but no engine runs in this test
    assert not no_engine.ok and "restarting" in no_engine.message
    assert not controls._control(SetLoraWeight("ink", 3.0)).ok
    no_lora = controls._control(SetLoraWeight("ink", 0.5))
    assert not no_lora.ok and "no LoRA named 'ink' in style 's0'; its LoRAs: none (the tiny preset loads no LoRAs)" in no_lora.message


def test_a_tick_answers_every_action_and_folds_the_style_requests() -> None:
    profile = Profile(styles=[{"name": "s0", "prompt": "a"}, {"name": "s1", "prompt": "b"}, {"name": "s2", "prompt": "c"}])
    controls = stage(profile)
    bus = controls._bus
    answers = [bus.post(SelectStyle("s1")), bus.post(SelectStyle("nope")), bus.post(NextStyle()),
               bus.post(TogglePassthrough())]
    assert controls.style == "s0"  # nothing happens before the tick
    controls.tick()
    results = [answer.result(timeout=0) for answer in answers]
    assert [r.ok for r in results] == [True, False, True, True]
    assert "no style named 'nope'" in results[1].message
    assert controls.style == "s2"  # the last request wins: s1, then next
    assert controls.forced_passthrough is True and controls._telemetry.snapshot().forced_passthrough is True
