"""``render``: every frame through the streaming path, H.264 at the input's size, a progress bar, and a
file that still plays when the render is stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from live2diff_broadcast.cli import main
from tests.videos import count_frames

REPO = Path(__file__).resolve().parents[2]


def write_video(path: Path, frames: int, size: tuple[int, int] = (80, 48), fps: float = 25.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[:, (i * 3) % size[0] :] = (0, 128, 255)
        writer.write(img)
    writer.release()


def codec_of(path: Path) -> str:
    with av.open(str(path)) as container:
        return str(container.streams.video[0].codec_context.name)


def test_render_translates_every_frame_into_h264_at_the_input_size(tmp_path: Path) -> None:
    src, dst, profile = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "p.toml"
    write_video(src, 14)
    profile.write_text("[engine]\nwidth = 64\nheight = 64\nt_index_list = [30, 36, 42]\n")
    assert main(["render", str(src), str(dst), "--profile", str(profile)]) == 0
    assert count_frames(dst) == (14, (48, 80))  # the input's size: the model's square placed back, bars beside it
    assert codec_of(dst) == "h264"


def test_render_at_the_model_size_and_lossless_mkv(tmp_path: Path) -> None:
    src, profile = tmp_path / "in.mp4", tmp_path / "p.toml"
    write_video(src, 10)
    profile.write_text("[engine]\nwidth = 64\nheight = 64\n")
    assert main(["render", str(src), str(tmp_path / "m.mp4"), "--profile", str(profile), "--size", "model"]) == 0
    assert count_frames(tmp_path / "m.mp4") == (10, (64, 64))
    assert main(["render", str(src), str(tmp_path / "m.mkv"), "--profile", str(profile)]) == 0
    assert count_frames(tmp_path / "m.mkv") == (10, (64, 64)) and codec_of(tmp_path / "m.mkv") == "ffv1"


def test_render_too_short_clip_and_bad_input(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, dst, profile = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "p.toml"
    write_video(src, 5)
    profile.write_text("[engine]\nwidth = 64\nheight = 64\n")
    assert main(["render", str(src), str(dst), "--profile", str(profile)]) == 2
    assert "at least 8" in caplog.text
    assert main(["render", str(tmp_path / "nope.mp4"), str(dst), "--profile", str(profile)]) == 2
    assert "cannot open" in caplog.text
    assert main(["render", str(src), str(tmp_path / "out.webm"), "--profile", str(profile)]) == 2
    assert "expected a name ending in .mp4 (H.264), .mkv (lossless FFV1) or .avi (MJPG)" in caplog.text
    assert main(["render", str(src), str(tmp_path / "no" / "out.mp4"), "--profile", str(profile)]) == 2
    assert "does not exist" in caplog.text


def test_a_render_stopped_with_sigterm_shows_progress_and_its_file_plays(tmp_path: Path) -> None:
    src, dst, profile = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "p.toml"
    write_video(src, 3000, fps=10.0)  # far more than the test waits for
    profile.write_text("[engine]\nwidth = 64\nheight = 64\n")
    proc = subprocess.Popen([sys.executable, "-m", "live2diff_broadcast.cli", "render", str(src), str(dst),
                             "--profile", str(profile)], cwd=REPO, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    seen = bytearray()

    def read() -> None:
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 4096):
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the bar (tqdm, \r-updated) says how far it got
            done = [int(n) for n in re.findall(rb"\| *(\d+)/3000 \[", bytes(seen))]
            if done and done[-1] >= 40:  # several one-second fragments written
                break
            assert proc.poll() is None, bytes(seen)[-2000:].decode(errors="replace")
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(10)
    text = bytes(seen).decode(errors="replace")
    assert proc.returncode == 128 + signal.SIGTERM, text[-2000:]
    assert re.search(r"(frame/s|s/frame)\]", text) and "<" in text, text[-2000:]  # rate and time left on the bar
    assert "render stopped by SIGTERM" in text
    frames, shape = count_frames(dst)
    assert frames >= 30 and shape == (48, 80), (frames, text[-2000:])
