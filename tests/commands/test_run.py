"""``live2diff-broadcast run``: file in -> file out, clean stop on SIGINT, clear errors for bad plugins."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.runtime.transport import leftover_segments
from tests.videos import count_frames

REPO = Path(__file__).resolve().parents[2]


def _write_video(path: Path, frames: int, fps: float = 30.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (96, 64))
    for i in range(frames):
        writer.write(np.full((64, 96, 3), (i * 8) % 256, np.uint8))
    writer.release()


def _profile(tmp_path: Path, source: str, sink: str) -> Path:
    path = tmp_path / "show.toml"
    path.write_text(
        f"""
name = "test"
[engine]
device = "cpu"
width = 64
height = 64
{source}
{sink}
""",
        encoding="utf-8",
    )
    return path


def test_unknown_plugin_is_a_clear_error_not_a_hang(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = _profile(tmp_path, '[source]\nplugin = "no_such_camera"', '[sink]\nplugin = "file"\nsettings = { path = "x.avi" }')
    started = time.monotonic()
    assert main(["run", "--profile", str(profile), "--duration", "5"]) == 2
    assert time.monotonic() - started < 10
    assert "no source plugin named 'no_such_camera'" in caplog.text


def test_bad_plugin_settings_are_refused_before_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = _profile(tmp_path, '[source]\nplugin = "test_pattern"\nsettings = { fps = -3 }', '[sink]\nplugin = "file"\nsettings = { path = "x.avi" }')
    assert main(["run", "--profile", str(profile)]) == 2
    assert "fps" in caplog.text


def test_file_in_file_out(tmp_path: Path) -> None:
    """A 90-frame file plays once in real time (3 s); the run ends at its end (EndOfStream + 1 s drain).

    Documented frame count: the output is a constant-rate signal at the source's 30 fps, a frame in
    every slot from the sink's opening to the stop (passthrough while the engine loads, engine frames
    once live, held ones between): the file's 3 s plus the 1 s drain, about 120 frames, never fewer
    than the input's 90.
    """
    src, out = tmp_path / "in.avi", tmp_path / "out.avi"
    _write_video(src, 90)
    profile = _profile(
        tmp_path,
        f'[source]\nplugin = "file"\nsettings = {{ path = "{src}" }}',
        f'[sink]\nplugin = "file"\nsettings = {{ path = "{out}" }}',
    )
    assert main(["run", "--profile", str(profile), "--duration", "60"]) == 0
    count, shape = count_frames(out)
    assert shape == (64, 64)  # the model's size (the file sink keeps what it is given)
    assert 90 <= count <= 160, f"{count} frames for a 3 s file and a 1 s drain at 30 fps"


def test_sigint_stops_everything_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out.avi"
    profile = _profile(
        tmp_path,
        '[source]\nplugin = "test_pattern"\nsettings = { width = 96, height = 64, fps = 30 }',
        f'[sink]\nplugin = "file"\nsettings = {{ path = "{out}" }}',
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "live2diff_broadcast.cli", "run", "--profile", str(profile), "--duration", "120"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    log: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until the engine is live
            log.append(line)
            if "engine: live" in line or time.monotonic() > deadline:
                break
        assert any("engine: live" in line for line in log), "".join(log[-20:])
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
        log.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = "".join(log)
    assert proc.returncode == 0, text[-3000:]
    assert "SIGINT received" in text
    engine_pids = [int(p) for p in re.findall(r"engine process started \(pid (\d+)", text)]
    assert engine_pids
    for pid in engine_pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert leftover_segments(f"l2d-{proc.pid}-") == []
    count, shape = count_frames(out)
    assert count > 10 and shape == (64, 64)


NOISE = {
    "should be kept in float32": "diffusers' false alarm on every dtype cast",
    "did not stop within": "the engine overran its stop deadline",
    "terminate called": "a C++ abort at process exit",
    "[ WARN:": "a raw OpenCV warning",
    "dropped in ": "drop counters without saying that skipping stale frames is by design",
}


def test_a_normal_start_and_stop_with_the_tiny_engine_logs_no_noise(tmp_path: Path) -> None:
    """What a newcomer reads: nothing that looks like an error when nothing went wrong."""
    out = tmp_path / "out.mp4"
    profile = tmp_path / "show.toml"
    profile.write_text(f"""
name = "quiet"
[engine]
device = "cpu"
width = 128
height = 128
[[styles]]
name = "a"
prompt = "a"
[source]
plugin = "test_pattern"
settings = {{ width = 160, height = 120, fps = 15 }}
[sink]
plugin = "file"
settings = {{ path = "{out}" }}
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "live2diff_broadcast.cli", "run", "--profile", str(profile), "--duration", "300",
         "--no-hotkeys", "--no-terminal-keys", "--no-control-server", "--status-interval", "0.5"],
        cwd=REPO, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True,
    )
    log: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the engine is live and a status line was printed
            log.append(line)
            if (any("engine: live" in seen for seen in log) and "stale skipped" in line) or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        log.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = "".join(log)
    assert proc.returncode == 0, text[-3000:]
    assert "engine: live" in text and "engine stopping" in text, text[-3000:]
    found = {pattern: why for pattern, why in NOISE.items() if pattern in text}
    assert not found, f"{found}\n{text[-4000:]}"
    assert "newest frame wins" in text  # the run's summary says what the skip counters mean
