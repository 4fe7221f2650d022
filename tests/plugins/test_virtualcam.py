"""virtualcam sink: exactly what pyvirtualcam hands a device, and clear errors when it cannot."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError
from plugins.virtualcam import VirtualCamSink

pyvirtualcam = pytest.importorskip("pyvirtualcam")
from pyvirtualcam.util import decode_fourcc  # noqa: E402


class RecordingBackend:
    """A pyvirtualcam backend that keeps what the library would send to the device."""

    instances: list[RecordingBackend] = []
    refuse_sizes: set[tuple[int, int]] = set()

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        if (width, height) in self.refuse_sizes:
            raise RuntimeError(f"resolution {width}x{height} not supported by this device")
        self.width, self.height, self.fps, self.fmt, self._device = width, height, fps, decode_fourcc(fourcc), device
        self.sent: list[np.ndarray] = []
        self.closed = 0
        RecordingBackend.instances.append(self)

    def close(self) -> None:
        self.closed += 1

    def send(self, frame: np.ndarray) -> None:
        self.sent.append(frame.copy())

    def device(self) -> str:
        return self._device or "recording0"

    def native_fourcc(self) -> int | None:
        return None


@pytest.fixture
def recording() -> Iterator[type[RecordingBackend]]:
    RecordingBackend.instances = []
    RecordingBackend.refuse_sizes = set()
    pyvirtualcam.register_backend("recording", RecordingBackend)
    yield RecordingBackend
    pyvirtualcam.camera.BACKENDS.pop("recording", None)


def _frame(width: int, height: int, seq: int = 0) -> Frame:
    rng = np.random.default_rng(seq)
    return Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), pts_ns=seq, seq=seq)


def test_sends_the_exact_rgb_bytes(recording: type[RecordingBackend]) -> None:
    sink = VirtualCamSink.create({"backend": "recording"})
    sink.open(width=64, height=48, fps=25.0)
    frames = [_frame(64, 48, i) for i in range(3)]
    for frame in frames:
        sink.write(frame)
    sink.close()
    sink.close()

    (backend,) = recording.instances
    assert (backend.width, backend.height, backend.fps, backend.fmt) == (64, 48, 25.0, "raw ")  # RGB
    assert len(backend.sent) == 3
    for sent, frame in zip(backend.sent, frames, strict=True):
        assert sent.dtype == np.uint8 and sent.ndim == 1
        assert sent.tobytes() == frame.image.tobytes()
    assert backend.closed == 1


def test_scales_to_its_own_size_and_converts_an_explicit_format(recording: type[RecordingBackend]) -> None:
    sink = VirtualCamSink.create({"backend": "recording", "width": 32, "height": 24, "pixel_format": "I420", "fps": 30})
    sink.open(width=64, height=48, fps=25.0)
    frame = _frame(64, 48)
    sink.write(frame)
    sink.close()

    (backend,) = recording.instances
    assert (backend.width, backend.height, backend.fps, backend.fmt) == (32, 24, 30.0, "I420")
    expected = cv2.cvtColor(cv2.resize(frame.image, (32, 24), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2YUV_I420)
    assert backend.sent[0].tobytes() == expected.tobytes()
    assert backend.sent[0].size == 32 * 24 * 3 // 2


def test_a_refused_resolution_is_a_clear_error(recording: type[RecordingBackend]) -> None:
    recording.refuse_sizes = {(1000, 1000)}
    sink = VirtualCamSink.create({"backend": "recording", "width": 1000, "height": 1000})
    with pytest.raises(PluginError, match=r"refused 1000x1000 at 30 fps.*'width'/'height'.*not supported by this device"):
        sink.open(width=64, height=48, fps=30.0)


def test_unknown_backend_names_the_setting() -> None:
    with pytest.raises(PluginError, match="setting 'backend': 'nope' is not available here"):
        VirtualCamSink.create({"backend": "nope"}).open(64, 48, 30.0)


@pytest.mark.skipif(platform.system() != "Linux", reason="v4l2loopback is the Linux backend")
@pytest.mark.parametrize("backend", ["v4l2loopback", "auto"])
def test_linux_without_v4l2loopback_says_how_to_load_it(backend: str) -> None:
    if any(p.startswith("video") for p in os.listdir("/dev")):
        pytest.skip("this machine has video devices; the missing-module case cannot be shown")
    sink = VirtualCamSink.create({"backend": backend})
    with pytest.raises(PluginError, match=r"no v4l2loopback device.*sudo modprobe v4l2loopback"):
        sink.open(width=64, height=48, fps=30.0)
