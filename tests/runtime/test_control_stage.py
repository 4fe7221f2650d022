"""The control stage: actions taken between ticks, style requests folded, bad blends and LoRA moves refused
with the reason (no engine runs here: the engine keeper is never started, so every send is refused)."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.config.watch import ProfileWatcher
from live2diff_broadcast.control.actions import (
    BlendStyles,
    NextStyle,
    RevertStyle,
    SaveProfile,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)
from live2diff_broadcast.control.bus import ControlBus
from live2diff_broadcast.control.protocol import parse_command
from live2diff_broadcast.media.backoff import Backoff
from live2diff_broadcast.runtime.control_stage import ControlStage
from live2diff_broadcast.runtime.engine_keeper import EngineKeeper
from live2diff_broadcast.runtime.messages import EngineSpec
from live2diff_broadcast.runtime.supervisor import Supervisor
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


def test_live_edits_fold_into_one_style_message_and_bad_values_are_refused_with_the_reason() -> None:
    profile = Profile(styles=[{"name": "s0", "prompt": "a", "crossfade_frames": 4}, {"name": "s1", "prompt": "b"}])
    controls = stage(profile)
    controls.restart_message()
    bus = controls._bus
    answers = [bus.post(parse_command("prompt a red fox")), bus.post(parse_command("seed 9")),  # type: ignore[arg-type]
               bus.post(parse_command("strength 0.01")), bus.post(parse_command("guidance 1.5"))]  # type: ignore[arg-type]
    controls.tick()
    ok, seed, strength, guidance = (a.result(timeout=0) for a in answers)
    assert ok.ok and "style 's0': prompt = 'a red fox' (live, crossfade over 4 frames; 'save' keeps it)" == ok.message
    assert not strength.ok and "strength refused: strength 0.01 denoises 1 of the 50 schedule steps" in strength.message
    assert seed.ok and guidance.ok
    sent = controls._sent
    assert sent is not None and (sent.prompt, sent.config.seed, sent.config.guidance, sent.crossfade_frames) == (
        "a red fox", 9, 1.5, 4)
    assert controls._request_id == 1  # three edits in one tick: one SetStyle
    params = controls.params()
    assert params["edited"] == ["guidance", "prompt", "seed"] and params["can_save"] is False
    assert controls.profile.style("s0").prompt == "a"  # the file's profile is untouched
    # edits belong to their style: away and back, they are still there
    for line in ("style s1", "style s0"):
        bus.post(parse_command(line))  # type: ignore[arg-type]
        controls.tick()
    assert controls._sent is not None and controls._sent.prompt == "a red fox"
    save = bus.post(SaveProfile())
    controls.tick()
    assert not save.result(timeout=0).ok and "no --profile file" in save.result(timeout=0).message
    revert = bus.post(RevertStyle())
    controls.tick()
    assert revert.result(timeout=0).ok and controls._sent.prompt == "a" and controls.params()["edited"] == []


SHOW = """\
# the show's comment
[[styles]]
name = "s0"
prompt = "a"   # the first look

[[styles]]
name = "s1"
prompt = "b"
"""


def test_save_writes_the_file_and_the_watcher_does_not_report_the_show_s_own_save(tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(SHOW)
    watcher = ProfileWatcher(path, check_plugins=False)
    sup = Supervisor(watcher.current, source_factory=lambda: None, sink_factory=lambda: None,  # type: ignore[arg-type,return-value]
                     watcher=watcher)
    controls = sup._control_stage
    controls.restart_message()
    bus = controls._bus
    reported: list[object] = []
    stop = threading.Event()

    def poll() -> None:  # the watch thread, polling as fast as it can while the show saves
        while not stop.is_set():
            if (result := watcher.poll()) is not None:
                reported.append(result)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        for prompt in ("one", "two", "three", "a red fox"):
            bus.post(parse_command(f"prompt {prompt}"))  # type: ignore[arg-type]
            controls.tick()
            sent = controls._sent
            saved = bus.post(SaveProfile())
            controls.tick()
            result = saved.result(timeout=0)
            assert result.ok and result.message == f"saved to {path}: style 's0': prompt = {prompt!r}"
    finally:
        stop.set()
        poller.join(10)
    assert reported == []  # never the old file seen as new, never our own save
    assert path.read_text() == SHOW.replace('prompt = "a"', 'prompt = "a red fox"')
    assert controls.params()["edited"] == [] and controls.profile.style("s0").prompt == "a red fox"
    assert controls._sent is sent  # nothing re-sent: the engine already runs it
    assert watcher.poll() is None  # our own save is not an edit to reload
    path.write_text(path.read_text().replace('"b"', '"c"'))  # someone else's edit still is
    assert isinstance(watcher.poll(), Profile)
