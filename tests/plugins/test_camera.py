"""camera source: clear errors instead of hangs, and newest-frame-wins reading."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugins.camera as camera_module
from live2diff_broadcast.plugin_api import DeviceQuery, PluginError
from plugins.camera import CameraSource
from plugins.camera_devices import index_for_name, named_cameras


def test_a_camera_index_that_does_not_exist_is_a_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    source = CameraSource.create({"device": 99, "open_timeout_s": 5})
    with pytest.raises(PluginError, match="setting 'device': no camera could be opened at index 99"):
        source.open()
    source.close()
    assert "WARN" not in capfd.readouterr().err  # our error says it; OpenCV's raw "[ WARN:0@...]" line does not


def test_a_driver_that_hangs_gives_a_timeout_error(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    class HangingCapture:
        def __init__(self, *args: Any) -> None:
            release.wait(10)  # a stuck driver

    monkeypatch.setattr(camera_module.cv2, "VideoCapture", HangingCapture)
    source = CameraSource.create({"device": 3, "open_timeout_s": 0.2})
    with pytest.raises(PluginError, match=r"opening camera index 3 did not finish within open_timeout_s=0.2 s"):
        source.open()
    release.set()


class FakeCapture:
    """A camera delivering numbered 16x16 BGR frames as fast as it is read."""

    def __init__(self, target: Any, api: int) -> None:
        self.count = 0
        self.props: dict[int, float] = {}
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return {camera_module.cv2.CAP_PROP_FRAME_WIDTH: 16, camera_module.cv2.CAP_PROP_FRAME_HEIGHT: 16}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray]:
        time.sleep(0.002)
        self.count += 1
        bgr = np.zeros((16, 16, 3), np.uint8)
        bgr[..., 0] = self.count % 256  # blue channel carries the count
        return True, bgr

    def release(self) -> None:
        self.released = True


def test_reads_newest_frames_as_rgb_with_increasing_pts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(camera_module.cv2, "VideoCapture", FakeCapture)
    source = CameraSource.create({"device": "0", "width": 16, "height": 16, "fps": 50})
    source.open()
    frames = [source.read(timeout=1.0) for _ in range(4)]
    capture = source._capture
    source.close()
    source.close()
    assert all(f is not None for f in frames)
    assert [f.seq for f in frames] == [0, 1, 2, 3]  # type: ignore[union-attr]
    assert all(b.pts_ns > a.pts_ns for a, b in zip(frames, frames[1:], strict=False))  # type: ignore[union-attr]
    assert frames[0].image[0, 0, 0] == 0 and frames[0].image[0, 0, 2] > 0  # type: ignore[union-attr]  # BGR -> RGB
    assert source.fps == 50
    assert capture is not None and capture.released and capture.props[camera_module.cv2.CAP_PROP_FPS] == 50


def test_camera_names_from_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for index, name in ((0, "Integrated Webcam"), (2, "Cam Link 4K")):
        (tmp_path / f"video{index}").mkdir()
        (tmp_path / f"video{index}" / "name").write_text(name + "\n")
    monkeypatch.setattr("plugins.camera_devices.platform.system", lambda: "Linux")
    assert named_cameras(tmp_path) == {0: "Integrated Webcam", 2: "Cam Link 4K"}
    assert index_for_name("cam link 4k", tmp_path) == 2
    assert index_for_name("Webcam", tmp_path) == 0
    assert index_for_name("Logitech", tmp_path) is None


def test_an_unknown_camera_name_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match="setting 'device': no camera named 'No Such Cam'"):
        CameraSource.create({"device": "No Such Cam"}).open()


def test_list_devices_is_bounded_and_finds_nothing_here(capfd: pytest.CaptureFixture[str]) -> None:
    assert CameraSource.list_devices(DeviceQuery(timeout_s=2.0, max_index=2)) == []
    assert "WARN" not in capfd.readouterr().err  # no "can't open camera by index" per probed index
