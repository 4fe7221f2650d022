"""run --record, then render --replay: the recorded engine output comes back bit for bit.

A whole broadcast (fake source -> engine process with the tiny model -> sink) records while a
crossfade, a fader position and a re-warm happen live; rendering the recorded input with the
recorded timeline through the render command reproduces every recorded output frame exactly.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from live2diff_broadcast.commands import render
from live2diff_broadcast.config import load_profile
from live2diff_broadcast.control.actions import BlendStyles, Rewarm, SelectStyle
from live2diff_broadcast.control.timeline import TimelineError, load_timeline
from tests.runtime.harness import Show

PROFILE = """
[engine]
width = 64
height = 64
device = "cpu"
warmup = 2
window = 4

[[styles]]
name = "s0"
prompt = "anime"

[[styles]]
name = "s1"
prompt = "sketch"
seed = 3
crossfade_frames = 3
"""


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_replay_reproduces_the_recorded_run(tmp_path: Path) -> None:
    profile_path = tmp_path / "show.toml"
    profile_path.write_text(PROFILE)
    profile = load_profile(profile_path, check_plugins=False)
    record = tmp_path / "rec"
    show = Show(profile, record_dir=str(record), hold_s=60.0)
    try:
        show.wait_live()
        for action in (SelectStyle("s1"), BlendStyles("s0", "s1", 0.25), Rewarm()):
            assert show.sup.controls.post(action).result(timeout=30).ok
            frames = show.engine_frames()
            show.wait("frames after a control", lambda f=frames: show.engine_frames() > f + 4)  # type: ignore[misc]
    finally:
        show.stop()
    timeline = json.loads((record / "timeline.json").read_text())
    commands = [e["command"] for e in timeline["events"]]
    assert commands == ["style s1", "blend s0 s1 0.25", "rewarm"], commands
    out = tmp_path / "replay.mkv"
    args = argparse.Namespace(input=record / "input.mkv", output=out, profile=profile_path, style=None,
                              max_frames=None, size=None, replay=record / "timeline.json")
    assert render.run(args) == 0
    recorded, replayed = read_video(record / "output.mkv"), read_video(out)
    assert len(recorded) > 20 and len(replayed) >= len(recorded)
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        np.testing.assert_array_equal(a, b, err_msg=f"output frame {i}")


def test_a_bad_timeline_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"format": "live2diff-timeline", "version": 1, "style": None,
                                "events": [{"frame": 3, "command": "blend a b 2"}]}))
    with pytest.raises(TimelineError, match=r"t.json: events\[0\].command: blend position T must be a number in \[0, 1\], got '2'"):
        load_timeline(path)
    path.write_text(json.dumps({"format": "live2diff-timeline", "version": 9, "events": []}))
    with pytest.raises(TimelineError, match="version: this program reads version 1, got 9"):
        load_timeline(path)
    path.write_text(json.dumps({"format": "live2diff-timeline", "version": 1, "events": [{"frame": -1, "command": "rewarm"}]}))
    with pytest.raises(TimelineError, match=r"events\[0\].frame: expected a frame index >= 0, got -1"):
        load_timeline(path)
