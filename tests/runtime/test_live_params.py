"""Live parameters with the real tiny engine: a live prompt edit changes what the engine makes (and only
from where it applied), replays bit for bit, survives a save without a re-send; pipelined == sequential
still holds after a live edit wherever it held before."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from live2diff_broadcast.commands import render
from live2diff_broadcast.config import Profile, load_profile
from live2diff_broadcast.config.live_edits import LiveEdits
from live2diff_broadcast.config.watch import ProfileWatcher
from live2diff_broadcast.control.actions import SaveProfile, StyleApplied
from live2diff_broadcast.control.protocol import parse_command
from live2diff_broadcast.engine import translator as translator_module
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.stream import Live2DiffStream
from live2diff_broadcast.engine.style_switch import StyleSwitcher
from live2diff_broadcast.engine.translator import FrameTranslator
from live2diff_broadcast.runtime.messages import style_message
from tests.runtime.harness import Show
from tests.runtime.test_record_replay import read_video

PROFILE = """\
# a show for the live-parameter test
[engine]
width = 64
height = 64
device = "cpu"
warmup = 2
window = 4

[[styles]]
name = "s0"
prompt = "anime"   # edited live below

[[styles]]
name = "s1"
prompt = "sketch"
"""


def test_a_live_prompt_edit_changes_the_output_from_where_it_applied_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(PROFILE)
    original = tmp_path / "original.toml"
    original.write_text(PROFILE)
    profile = load_profile(path, check_plugins=False)
    watcher = ProfileWatcher(path, profile, check_plugins=False)
    record = tmp_path / "rec"
    show = Show(profile, record_dir=str(record), hold_s=60.0, watcher=watcher, watch_interval_s=0.1,
                profile_path=path)
    try:
        show.wait_live()
        answer = show.sup.controls.post(parse_command("prompt a red fox in snow")).result(timeout=30)  # type: ignore[arg-type]
        assert answer.ok, answer.message
        show.wait("the edit on air", lambda: any(isinstance(e, StyleApplied) for e in show.events))
        frames = show.engine_frames()
        show.wait("frames in the edited style", lambda: show.engine_frames() > frames + 6)
        assert show.sup.status()["params"]["prompt"] == "a red fox in snow"
        requests = show.sup._control_stage._request_id
        saved = show.sup.controls.post(SaveProfile()).result(timeout=30)
        assert saved.ok, saved.message
        assert "# edited live below" in path.read_text() and 'prompt = "a red fox in snow"' in path.read_text()
        frames = show.engine_frames()
        show.wait("frames after the save (the watcher polls every 0.1 s)", lambda: show.engine_frames() > frames + 6)
        assert show.sup._control_stage._request_id == requests  # the watcher's view of our own save re-sent nothing
        assert show.sup.status()["params"]["edited"] == []
    finally:
        show.stop()
    commands = [e["command"] for e in json.loads((record / "timeline.json").read_text())["events"]]
    assert commands == ["prompt a red fox in snow", "style s0"], commands
    recorded = read_video(record / "output.mkv")
    replayed = replay(tmp_path, original, record / "timeline.json", "replay.mkv")
    assert len(recorded) > 20 and len(replayed) >= len(recorded)
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        np.testing.assert_array_equal(a, b, err_msg=f"output frame {i}")
    # the same input without the edit: equal up to where the edit applied, different after it
    timeline = json.loads((record / "timeline.json").read_text())
    edited_at = timeline["events"][0]["frame"]
    timeline["events"] = []
    plain_timeline = tmp_path / "plain.json"
    plain_timeline.write_text(json.dumps(timeline))
    plain = replay(tmp_path, original, plain_timeline, "plain.mkv")
    first_new = edited_at - 1  # 2 steps: the frame in flight came out of the re-warm in the new prompt
    for i in range(first_new):
        np.testing.assert_array_equal(recorded[i], plain[i], err_msg=f"output frame {i} before the edit")
    changed = [int(np.abs(recorded[i].astype(int) - plain[i].astype(int)).max()) for i in range(first_new, len(recorded))]
    assert min(changed) > 0, changed


def replay(tmp_path: Path, profile: Path, timeline: Path, name: str) -> list[np.ndarray]:
    out = tmp_path / name
    args = argparse.Namespace(input=tmp_path / "rec" / "input.mkv", output=out, profile=profile, style=None,
                              max_frames=None, size=None, replay=timeline)
    assert render.run(args) == 0
    return read_video(out)


# --- pipelined == sequential after a live edit (in process, float64) ---------------------------------

EDITS = [("prompt", "a red fox"), ("seed", 9), ("guidance", 1.7), ("strength", 0.5)]


def translator(components: Live2DiffComponents, profile: Profile, pipelined: bool) -> FrameTranslator:
    message = style_message(profile, "s0")
    stream = Live2DiffStream(components, message.config, dtype=torch.float64, pipelined=pipelined)
    stream.set_prompt(message.prompt)
    return FrameTranslator(stream)


@pytest.mark.parametrize(("field", "value"), EDITS)
def test_pipelined_equals_sequential_after_a_live_edit(tiny64: Live2DiffComponents, monkeypatch: pytest.MonkeyPatch,
                                                       field: str, value: object) -> None:
    monkeypatch.setattr(translator_module, "_to_uint8", lambda image: image.clone())  # compare the float outputs
    profile = Profile(engine={"width": 64, "height": 64, "warmup": 4, "window": 8},
                      styles=[{"name": "s0", "prompt": "anime"}])
    edits = LiveEdits()
    edits.set(profile, "s0", field, value)
    edited = style_message(edits.effective(profile), "s0", request_id=1)  # what the control stage sends
    inputs = [np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8) for i in range(24)]
    switch_at = 12
    outputs: list[dict[int, torch.Tensor]] = []
    for pipelined in (True, False):
        t = translator(copy.deepcopy(tiny64), profile, pipelined)
        switcher = StyleSwitcher(t, lambda models, current: current, style_message(profile, "s0").models)
        out: dict[int, torch.Tensor] = {}
        for i, image in enumerate(inputs):
            if i == switch_at:
                switcher.request(edited)
                for report in switcher.poll():
                    out.update(report.outputs)
            out.update(t.push(image))
        out.update((o.frame, o.image) for o in t.stream.flush())
        outputs.append(out)
    pipelined_out, sequential_out = outputs
    # the one frame in flight at the switch (2 steps) comes out of the re-warm in the new style when pipelined,
    # in the old one when sequential (it was done already): every other frame must agree
    compared = [f for f in range(24) if not switch_at - 1 <= f < switch_at]
    worst = max((pipelined_out[f] - sequential_out[f]).abs().max().item() for f in compared)
    assert worst < 1e-9, (field, worst)
    plain = translator(copy.deepcopy(tiny64), profile, True)
    unchanged = {}
    for image in inputs:
        unchanged.update(plain.push(image))
    assert min((pipelined_out[f] - unchanged[f]).abs().max().item() for f in range(switch_at, 22)) > 1e-4  # the edit acted
