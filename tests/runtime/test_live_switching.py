"""Live switching through the whole broadcast: supervisor -> engine process (tiny model, 64x64) -> sink.

What a viewer would notice: during and after any number of switches the sink never falls back to
passthrough / warm-up frames, never repeats or reorders a frame, and ends in the LAST requested
style; the switch latency (control input -> first new-style frame at the sink) is measured; the
engine's memory stays bounded; profile edits apply live (valid) or are rejected (invalid) with
the output flowing throughout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from live2diff_broadcast.commands.control import send_command
from live2diff_broadcast.config import Profile
from live2diff_broadcast.config.watch import ProfileWatcher
from live2diff_broadcast.control import ProfileRejected, ProfileReloaded, StyleApplied, StyleFailed
from live2diff_broadcast.control.actions import SetLoraWeight
from live2diff_broadcast.control.server import ControlServer
from tests.runtime.harness import Show
from tests.weights import zoo
from tests.weights.conftest import Zoo, model_zoo  # noqa: F401,F811 - the fixture

ENGINE = 'width = 64\nheight = 64\ndevice = "cpu"\nwarmup = 2\nwindow = 4\n'
STYLES = """
[[styles]]
name = "s0"
prompt = "anime"

[[styles]]
name = "s1"
prompt = "sketch"
seed = 3

[[styles]]
name = "s2"
prompt = "oil painting"
strength = 0.6
"""


def profile_text(styles: str = STYLES, engine: str = ENGINE) -> str:
    return f"[engine]\n{engine}\n{styles}"


@pytest.fixture
def show_factory() -> Iterator[Callable[..., Show]]:
    shows: list[Show] = []

    def make(*args: Any, **kwargs: Any) -> Show:
        kwargs = {"watch_interval_s": 0.1, "hold_s": 60.0, **kwargs}
        shows.append(Show(*args, **kwargs))
        return shows[-1]

    yield make
    for show in shows:
        if show.thread.is_alive():
            show.sup.stop()
            show.thread.join(60)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the engine's RSS from /proc")
def test_rapid_switching_while_frames_flow_ends_in_the_last_style(show_factory: Callable[..., Show], tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(profile_text(), encoding="utf-8")
    from live2diff_broadcast.config import load_profile

    show = show_factory(load_profile(path, check_plugins=False))
    show.wait_live()
    server = ControlServer(show.sup.controls, show.sup.status, port=0)
    server.start()
    try:
        port = server.address[1]
        snap = show.sup.telemetry.snapshot()
        passthrough_before = snap.passthrough_frames
        # 1. twenty switches in two seconds, through the bus and the control server
        names = ["s1", "s2", "s0", "s1", "s2"] * 4
        for i, name in enumerate(names):
            if i % 2:
                assert send_command(f"style {name}", port=port)["ok"]
            else:
                show.sup.set_style(name)
            time.sleep(0.1)
        last = names[-1]
        show.wait("the last style on air", lambda: show.sup.telemetry.snapshot().style == last
                  and show.sup.telemetry.snapshot().style_state == "")
        status = send_command("status", port=port)["status"]
        assert status["style"] == status["style_target"] == last
        assert status["last_switch_ms"] is not None and status["last_switch_ms"] > 0
        assert status["engine_restarts"] == 0
        applied = [e for e in show.events if isinstance(e, StyleApplied)]
        assert applied and applied[-1].style == last
        # 2. no grey / warm-up / passthrough frame was shown for any switch: the engine kept the pace
        show.wait("engine frames after the switches", lambda: show.sup.telemetry.snapshot().frames_out > snap.frames_out + 5)
        assert show.sup.telemetry.snapshot().passthrough_frames == passthrough_before
        # 3. memory: many more switches do not grow the engine process
        pid = show.sup.engine_pid
        assert pid is not None
        before = rss_mb(pid)
        for i in range(40):
            show.sup.set_style(["s0", "s1", "s2"][i % 3])
            time.sleep(0.05)
        show.wait("the switches to settle", lambda: show.sup.telemetry.snapshot().style == "s0"
                  and show.sup.telemetry.snapshot().style_state == "")
        grown = rss_mb(pid) - before
        assert grown < 150, f"engine RSS grew {grown:.0f} MB over 40 switches"
        assert show.sup.engine_pid == pid
    finally:
        server.stop()
        show.stop()


def test_hot_reload_applies_a_valid_edit_and_rejects_an_invalid_one(show_factory: Callable[..., Show], tmp_path: Path) -> None:
    path = tmp_path / "show.toml"
    path.write_text(profile_text(), encoding="utf-8")
    watcher = ProfileWatcher(path, check_plugins=False)
    show = show_factory(watcher.current, watcher=watcher)
    show.wait_live()
    pid = show.sup.engine_pid
    # 1. valid: the style on air gets a new prompt and seed -> applied live, re-warmed, no restart
    path.write_text(profile_text(STYLES.replace('prompt = "anime"', 'prompt = "watercolor"\nseed = 9')), encoding="utf-8")
    show.wait("the reload", lambda: any(isinstance(e, ProfileReloaded) for e in show.events))
    show.wait("the edited style on air", lambda: any(isinstance(e, StyleApplied) and e.origin == "reload" for e in show.events))
    assert show.sup.profile.style("s0").prompt == "watercolor" and show.sup.profile.style("s0").seed == 9
    assert show.sup.engine_pid == pid
    # 2. invalid: rejected with its error, the running configuration stays, frames keep flowing
    out = show.sup.telemetry.snapshot().frames_out
    path.write_text(profile_text(STYLES.replace("strength = 0.6", "strength = 5")), encoding="utf-8")
    # write_text truncates first: a poll may see the empty file (rejected too, by design: config/watch.py), so
    # wait for the rejection of the full content
    show.wait("the rejection", lambda: any(isinstance(e, ProfileRejected) and "strength" in e.error for e in show.events))
    assert show.sup.profile.style("s0").prompt == "watercolor" and show.sup.profile.style("s2").strength == 0.6
    show.wait("frames after the rejection", lambda: show.sup.telemetry.snapshot().frames_out > out + 5)
    assert show.sup.engine_pid == pid
    show.stop()


def test_hot_reload_restarts_the_engine_for_engine_changes_with_passthrough_covering(
    show_factory: Callable[..., Show], tmp_path: Path
) -> None:
    path = tmp_path / "show.toml"
    path.write_text(profile_text(), encoding="utf-8")
    watcher = ProfileWatcher(path, check_plugins=False)
    show = show_factory(watcher.current, model="passthrough", watcher=watcher)
    show.wait_live()
    pid = show.sup.engine_pid
    path.write_text(profile_text(engine=ENGINE.replace("64\n", "128\n") + "clip_skip = 1\n"), encoding="utf-8")
    show.wait("the reload", lambda: any(isinstance(e, ProfileReloaded) for e in show.events))
    reloaded = next(e for e in show.events if isinstance(e, ProfileReloaded))
    assert any("next start" in line for line in reloaded.changes)  # the size waits, the rest restarts
    show.wait("a new engine", lambda: show.sup.engine_pid not in (None, pid))
    passthrough = show.sup.telemetry.snapshot().passthrough_frames
    show.wait("the new engine live", lambda: show.sup.telemetry.snapshot().engine_state == "live")
    assert show.sup.profile.engine.clip_skip == 1 and show.sup.profile.engine.width == 64
    assert passthrough > 0  # the source covered the reload
    assert all(f.image.shape == (64, 64, 3) for f in show.sink.frames)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # type: ignore[arg-type]
    show.stop()


def test_a_lora_style_loads_in_the_background_and_switching_back_is_cached(
    show_factory: Callable[..., Show], model_zoo: Zoo, tmp_path: Path  # noqa: F811
) -> None:
    """The real loader in the engine process (tiny files in the real layouts, 'live2diff' preset)."""
    g = torch.Generator().manual_seed(0)
    lora = zoo.write_safetensors(
        {"lora_unet_conv_in.lora_down.weight": torch.randn(2, 4, 3, 3, generator=g),
         "lora_unet_conv_in.lora_up.weight": torch.randn(32, 2, 1, 1, generator=g)},
        tmp_path / "toon.safetensors",
    )
    profile = Profile(
        models=model_zoo.models(), engine={"width": 64, "height": 64, "device": "cpu", "warmup": 2, "window": 4},
        styles=[{"name": "base", "prompt": "anime"}, {"name": "toon", "prompt": "toon", "loras": [{"path": str(lora)}]},
                {"name": "broken", "prompt": "x", "loras": [{"path": str(tmp_path / "missing.safetensors")}]}],
    )
    show = show_factory(profile)
    show.wait_live()
    passthrough = show.sup.telemetry.snapshot().passthrough_frames
    show.sup.set_style("broken")  # a missing file: reported, the current style stays
    show.wait("the failure", lambda: any(isinstance(e, StyleFailed) for e in show.events))
    assert show.sup.telemetry.snapshot().style == "base"
    for name in ("toon", "base", "toon"):
        count = sum(isinstance(e, StyleApplied) for e in show.events)
        show.sup.set_style(name)
        show.wait(f"style {name} on air", lambda count=count: sum(isinstance(e, StyleApplied) for e in show.events) > count)
        assert show.sup.telemetry.snapshot().style == name
    show.wait("the toon LoRA's fader reported", lambda: show.sup.telemetry.snapshot().loras == {"toon": 1.0})
    # the fader: an unknown name is refused at once, a known one is moved in the engine and reported back
    unknown = show.sup.controls.post(SetLoraWeight("tooon", 0.5)).result(timeout=10)
    assert not unknown.ok and "no LoRA named 'tooon' in style 'toon'; its LoRAs: toon" in unknown.message
    assert show.sup.controls.post(SetLoraWeight("toon", 0.25)).result(timeout=10).ok
    show.wait("the fader at 0.25", lambda: show.sup.telemetry.snapshot().loras == {"toon": 0.25})
    out = len(show.sink.frames)
    show.wait("frames after the move", lambda: len(show.sink.frames) > out + 3)
    snap = show.sup.telemetry.snapshot()
    assert snap.passthrough_frames == passthrough and snap.engine_restarts == 0 and snap.switch_failures == 1
    show.stop()
