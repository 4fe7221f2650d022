"""``camera`` source: an OpenCV VideoCapture, opened with a deadline and read by a grabber thread.

The grabber keeps only the newest frame (latest-frame-wins), so a slow consumer never sees stale
frames and a stalled driver never blocks ``read`` past its timeout.
"""

from __future__ import annotations

import logging
import platform
import threading
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.media.opencv_log import quiet_opencv
from live2diff_broadcast.plugin_api import DeviceInfo, DeviceQuery, PluginError, PluginSettings, Source

from ._threads import CallTimedOut, call_with_timeout
from .camera_devices import CAPTURE_APIS, index_for_name, named_cameras, probe_indices

logger = logging.getLogger(__name__)

_MAX_READ_FAILURES = 30  # consecutive failed grabs before the camera counts as gone


class CameraSettings(PluginSettings):
    device: int | str = Field(
        default=0, description="camera index, a device path (/dev/video2), or a name (Linux) as `devices` lists"
    )
    width: int | None = Field(default=None, ge=16, le=7680, description="requested width (the camera may pick another)")
    height: int | None = Field(default=None, ge=16, le=4320, description="requested height")
    fps: float | None = Field(default=None, gt=0, le=240, description="requested frame rate")
    api: Literal["auto", "v4l2", "dshow", "msmf", "avfoundation"] = Field(default="auto", description="OpenCV capture backend")
    open_timeout_s: float = Field(default=5.0, gt=0, le=60, description="give up opening after this long")


class CameraSource(Source):
    """A local camera by index, path or name."""

    name = "camera"
    description = "local camera via OpenCV (settings: device, width, height, fps, api, open_timeout_s)"
    Settings = CameraSettings
    settings: CameraSettings

    def __init__(self, settings: CameraSettings) -> None:
        super().__init__(settings)
        self._capture: cv2.VideoCapture | None = None
        self._grabber: threading.Thread | None = None
        self._stop = threading.Event()
        self._new = threading.Condition()
        self._latest: tuple[np.ndarray, int] | None = None  # (BGR (H, W, 3), pts_ns)
        self._failure: str | None = None
        self._seq = 0
        self._fps = settings.fps or 30.0
        self.dropped = 0  # frames the grabber replaced before anyone read them

    # 1. open: resolve the device, open it with a deadline, apply the requests, start grabbing
    def open(self) -> None:
        quiet_opencv()  # our PluginError below says what OpenCV's WARN lines would
        target = self._resolve_device()
        label = f"camera index {target}" if isinstance(target, int) else f"camera {target!r}"
        try:
            capture = call_with_timeout(lambda: self._open_capture(target), self.settings.open_timeout_s, label)
        except CallTimedOut:
            raise PluginError(
                f"source 'camera': setting 'device': opening {label} did not finish within "
                f"open_timeout_s={self.settings.open_timeout_s:g} s (is another program using it?)"
            ) from None
        if capture is None:
            raise PluginError(
                f"source 'camera': setting 'device': no camera could be opened at {label.removeprefix('camera ')} "
                f"(api={self.settings.api}); run `live2diff-broadcast devices` to list cameras"
            )
        self._capture = capture
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = capture.get(cv2.CAP_PROP_FPS)
        self._fps = self.settings.fps or (fps if 0 < fps <= 1000 else 30.0)
        if (self.settings.width and self.settings.width != width) or (self.settings.height and self.settings.height != height):
            logger.warning(
                "camera %r gives %dx%d instead of the requested %sx%s",
                self.settings.device, width, height, self.settings.width, self.settings.height,
            )
        logger.info("camera %r opened at %dx%d, %.2f fps", self.settings.device, width, height, self._fps)
        self._grabber = threading.Thread(target=self._grab_loop, name=f"camera-{self.settings.device}", daemon=True)
        self._grabber.start()

    def _resolve_device(self) -> int | str:
        device = self.settings.device
        if isinstance(device, int) or device.strip().isdigit():
            return int(device)
        if device.startswith("/dev/"):
            return device
        index = index_for_name(device)
        if index is None:
            where = f"cameras with names: {sorted(named_cameras().values())}" if platform.system() == "Linux" else (
                "camera names are only readable on Linux; use an index"
            )
            raise PluginError(f"source 'camera': setting 'device': no camera named {device!r} ({where})")
        return index

    def _open_capture(self, target: int | str) -> cv2.VideoCapture | None:
        capture = cv2.VideoCapture(target, CAPTURE_APIS[self.settings.api])
        if not capture.isOpened():
            capture.release()
            return None
        s = self.settings
        if s.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
        if s.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
        if s.fps:
            capture.set(cv2.CAP_PROP_FPS, s.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # ask the driver not to queue stale frames
        return capture

    # 2. grab: newest frame wins, stamped at ingest
    def _grab_loop(self) -> None:
        assert self._capture is not None
        failures = 0
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            if not ok:
                failures += 1
                if failures >= _MAX_READ_FAILURES:
                    self._fail(f"camera {self.settings.device!r} stopped delivering frames")
                    return
                self._stop.wait(0.01)
                continue
            failures = 0
            with self._new:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = (bgr, now_ns())
                self._new.notify_all()

    def _fail(self, why: str) -> None:
        with self._new:
            self._failure = why
            self._new.notify_all()

    # 3. read: wait for the next frame, convert only what is consumed
    def read(self, timeout: float) -> Frame | None:
        with self._new:
            if not self._new.wait_for(lambda: self._latest is not None or self._failure is not None, timeout):
                return None
            if self._latest is None:
                raise PluginError(f"source 'camera': {self._failure}")
            bgr, pts = self._latest
            self._latest = None
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), pts_ns=pts, seq=self._seq)
        self._seq += 1
        return frame

    @property
    def fps(self) -> float:
        return self._fps

    def _close(self) -> None:
        self._stop.set()
        if self._grabber is not None:
            self._grabber.join(timeout=2.0)
        if self._capture is not None and (self._grabber is None or not self._grabber.is_alive()):
            self._capture.release()
        self._capture = None

    @classmethod
    def list_devices(cls, query: DeviceQuery) -> list[DeviceInfo]:
        cameras = probe_indices(query.max_index, query.timeout_s)
        return [
            DeviceInfo(
                name=cam.name or f"camera {cam.index}",
                settings={"device": cam.index},
                detail=f"{cam.size[0]}x{cam.size[1]}" if cam.size else "",
            )
            for cam in cameras
        ]
