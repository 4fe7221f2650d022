"""The whole show against a real OBS: our stream sink into an OBS Media Source, OBS's scenes into our styles.

A headless OBS 29 gets three scenes, each holding the same Media Source on our UDP port and a
Text source; ``live2diff-broadcast run`` sends the still "quadrants" test card through the
identity engine. OBS must render our card (GetSourceScreenshot, compared by colour), and
switching OBS's program scene must switch our style (``control status``), turn passthrough on
for the scene mapped to "passthrough", and write the style into OBS's Text source.

With LIVE2DIFF_SAVE_SCREENSHOTS=1 the screenshots go to docs/img/ (the README shows them), and
the first-frame time is printed (docs/benchmarks.md records it).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from plugins.test_pattern import QUADRANTS

from .conftest import RunningObs
from .harness import free_port

REPO = Path(__file__).resolve().parents[2]
SIZE = 512
MEDIA = "Live2Diff stream"
TEXT = "Live2Diff style"
SCENES = {"Show": "anime", "Close-up": "sketch", "BRB": "passthrough"}
TOLERANCE = 30  # per RGB channel: yuv420p + H.264 at 4 Mbps keep flat colours within a few levels


def profile_toml(udp_port: int, ws_port: int) -> str:
    scenes = "\n".join(f'"{scene}" = "{target}"' for scene, target in SCENES.items())
    return f"""
name = "obs integration"
default_style = "sketch"   # OBS starts on "Show": the bridge must switch us to anime at connect

[engine]
device = "cpu"
width = {SIZE}
height = {SIZE}

[[styles]]
name = "anime"
prompt = "anime"

[[styles]]
name = "sketch"
prompt = "pencil sketch"

[source]
plugin = "test_pattern"
settings = {{ width = {SIZE}, height = {SIZE}, fps = 30, pattern = "quadrants" }}

[sink]
plugin = "stream"
settings = {{ url = "udp://127.0.0.1:{udp_port}", keyframe_interval = 15 }}

[obs]
enabled = true
port = {ws_port}
text_source = "{TEXT}"
connect_timeout_s = 5

[obs.scenes]
{scenes}
"Not In OBS" = "anime"
"""


def build_scenes(client: Any, udp_port: int) -> None:
    """Three scenes, each with the same Media Source (so it keeps playing across cuts) and Text source."""
    first, *others = SCENES
    client.create_scene(first)
    client.create_input(first, MEDIA, "ffmpeg_source", {
        "is_local_file": False, "input": f"udp://127.0.0.1:{udp_port}", "input_format": "mpegts",
        "buffering_mb": 0, "hw_decode": False, "clear_on_media_end": False, "restart_on_activate": False,
    }, True)
    client.create_input(first, TEXT, "text_ft2_source_v2", {"text": "-"}, True)
    for scene in others:
        client.create_scene(scene)
        client.create_scene_item(scene, MEDIA)
        client.create_scene_item(scene, TEXT)
    client.set_current_program_scene(first)


def screenshot(client: Any, source: str, width: int, height: int) -> np.ndarray | None:
    """The source as OBS renders it, RGB (H, W, 3); None until it has a frame (OBS answers 702)."""
    try:
        data = client.get_source_screenshot(source, "png", width, height, -1).image_data
    except Exception:  # noqa: BLE001 - OBSSDKRequestError 702 until the first frame is decoded
        return None
    png = base64.b64decode(data.split(",", 1)[1])
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def quadrant_colours(image: np.ndarray) -> list[tuple[int, int, int]]:
    """Median colour of a patch in the middle of each quarter (TL, TR, BL, BR)."""
    h, w = image.shape[:2]
    colours = []
    for cy, cx in ((h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)):
        patch = image[cy - 16 : cy + 16, cx - 16 : cx + 16].reshape(-1, 3)
        colours.append(tuple(int(v) for v in np.median(patch, axis=0)))
    return colours


def shows_our_card(image: np.ndarray | None) -> bool:
    if image is None:
        return False
    return all(max(abs(a - b) for a, b in zip(got, want, strict=True)) <= TOLERANCE
               for got, want in zip(quadrant_colours(image), QUADRANTS, strict=True))


def status(control_port: int) -> dict[str, Any]:
    """The show's status over its control port (what ``live2diff-broadcast control status`` prints)."""
    try:
        from live2diff_broadcast.commands.control import send_command
    except ImportError:  # the CLI itself, slower (a fresh interpreter per call)
        out = subprocess.run(
            [sys.executable, "-m", "live2diff_broadcast.cli", "control", "--port", str(control_port), "status"],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )
        assert out.returncode == 0, f"control status failed: {out.stderr}"
        return dict(json.loads(out.stdout))
    return dict(send_command("status", port=control_port, timeout=10)["status"])


def wait_until(what: str, condition: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; run's log:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def save(name: str, image: np.ndarray) -> None:
    if os.environ.get("LIVE2DIFF_SAVE_SCREENSHOTS") == "1":
        out = REPO / "docs" / "img" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def test_obs_plays_our_stream_and_its_scenes_switch_our_style(real_obs: RunningObs, tmp_path: Path) -> None:
    # 1. OBS: scenes with a Media Source on our UDP port
    udp_port, control_port = free_port(), free_port()
    client = real_obs.client()
    build_scenes(client, udp_port)
    # 2. our show: the quadrants card through the identity engine into the stream sink
    profile = tmp_path / "show.toml"
    profile.write_text(profile_toml(udp_port, real_obs.port))
    log = tmp_path / "run.log"
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "live2diff_broadcast.cli", "run", "--profile", str(profile), "--passthrough-model",
         "--no-overlay", "--no-hotkeys", "--no-terminal-keys", "--control-port", str(control_port),
         "--duration", "240"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        # 3. OBS shows our frames: the card's four colours, compared by colour
        frame: list[np.ndarray | None] = [None]
        sink_opened: list[float] = []

        def obs_shows_card() -> bool:
            if not sink_opened and "stream sink: " in log.read_text(errors="replace"):
                sink_opened.append(time.monotonic())
            frame[0] = screenshot(client, MEDIA, SIZE, SIZE)
            return shows_our_card(frame[0])

        wait_until("OBS's Media Source to show our test card", obs_shows_card, 120, log)
        shown = time.monotonic()
        after_open = f"{shown - sink_opened[0]:.2f} s after the stream sink opened, " if sink_opened else ""
        print(f"\nOBS first frame: {after_open}{shown - started:.2f} s after `run` started", file=sys.stderr)
        assert frame[0] is not None
        save("obs_media_source.png", frame[0])
        # 4. the bridge followed OBS's starting scene ("Show" -> anime) and says so in the Text source
        wait_until("style anime from OBS's starting scene", lambda: status(control_port)["style_target"] == "anime", 120, log)
        wait_until("anime on air", lambda: status(control_port)["style"] == "anime", 120, log)
        wait_until("the Text source to show anime",
                   lambda: client.get_input_settings(TEXT).input_settings.get("text") == "anime", 15, log)
        # 5. an OBS scene cut switches our style
        client.set_current_program_scene("Close-up")
        wait_until("style sketch after the cut to Close-up", lambda: status(control_port)["style"] == "sketch", 120, log)
        wait_until("the Text source to show sketch",
                   lambda: client.get_input_settings(TEXT).input_settings.get("text") == "sketch", 15, log)
        time.sleep(1.0)  # let the text render before the program screenshot
        program = screenshot(client, "Close-up", 640, 360)
        assert program is not None
        save("obs_program_scene.png", program)
        # 6. the scene mapped to "passthrough" forces passthrough; the next mapped scene ends it
        client.set_current_program_scene("BRB")
        wait_until("passthrough on for BRB", lambda: status(control_port)["forced_passthrough"] is True, 120, log)
        client.set_current_program_scene("Show")
        wait_until("passthrough off and anime for Show",
                   lambda: (s := status(control_port))["forced_passthrough"] is False and s["style"] == "anime", 120, log)
        assert shows_our_card(screenshot(client, MEDIA, SIZE, SIZE)), "OBS stopped showing our stream"
        # 7. one clear line for the [obs.scenes] name OBS does not have; the show ran on
        text = log.read_text()
        assert text.count("'Not In OBS', which OBS does not have") == 1, text[-3000:]
        assert "connected to OBS 29" in text or "connected to OBS 3" in text
        assert "h264 (libx264 zerolatency)" in status(control_port)["sink"]
    finally:
        run.send_signal(signal.SIGINT)
        try:
            code = run.wait(30)
        except subprocess.TimeoutExpired:
            run.kill()
            code = run.wait(10)
        client.disconnect()
    assert code == 0, log.read_text()[-3000:]
