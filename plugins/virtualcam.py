"""``virtualcam`` sink: a virtual webcam (pyvirtualcam) that Zoom, Teams, browsers and OBS can pick.

Pixel format: every pyvirtualcam backend (v4l2loopback, obs, unitycapture) accepts RGB and converts
natively to what its device wants, which is faster than converting in Python; so ``auto`` sends RGB.
An explicit format is converted here with OpenCV first.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, Sink

from ._sizing import SinkSizeSettings, fit, output_size

logger = logging.getLogger(__name__)

PixelFormatName = Literal["auto", "RGB", "BGR", "RGBA", "I420", "GRAY"]

# RGB (H, W, 3) -> what pyvirtualcam expects for that format.
_CONVERT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "RGB": lambda rgb: rgb,
    "BGR": lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
    "RGBA": lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA),
    "I420": lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420),  # (H*3/2, W) planar
    "GRAY": lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
}

# What "auto" sends per backend: RGB everywhere (each backend converts natively, see module doc).
_AUTO_FORMAT: dict[str, str] = {"v4l2loopback": "RGB", "obs": "RGB", "unitycapture": "RGB"}

V4L2LOOPBACK_HELP = (
    "load the v4l2loopback kernel module first, e.g. "
    "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Live2Diff` "
    "(package v4l2loopback-dkms on Debian/Ubuntu), or publish with the 'ndi' sink instead"
)


class VirtualCamSettings(SinkSizeSettings):
    backend: str = Field(default="auto", description="pyvirtualcam backend: auto, v4l2loopback, obs, unitycapture, ...")
    device: str | None = Field(default=None, description="device to use (/dev/video10, 'OBS Virtual Camera'); default: any free one")
    pixel_format: PixelFormatName = Field(default="auto", description="format handed to pyvirtualcam (auto: RGB)")
    fps: float | None = Field(default=None, gt=0, le=240, description="advertised frame rate (default: open()'s)")


class VirtualCamSink(Sink):
    """A virtual camera at the sink's size; frames are scaled and converted, then sent."""

    name = "virtualcam"
    description = "virtual webcam via pyvirtualcam (settings: backend, device, width, height, fps, pixel_format)"
    Settings = VirtualCamSettings
    settings: VirtualCamSettings

    def __init__(self, settings: VirtualCamSettings) -> None:
        super().__init__(settings)
        self._camera: Any = None
        self._size = (0, 0)
        self._format = "RGB"

    def open(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise PluginError(
                f"sink 'virtualcam': pyvirtualcam is not installed ({exc}); "
                "install it with `pip install 'live2diff-broadcast[virtualcam]'`"
            ) from None
        s = self.settings
        backend = None if s.backend == "auto" else s.backend
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            raise PluginError(
                f"sink 'virtualcam': setting 'backend': {backend!r} is not available here; "
                f"expected 'auto' or one of {sorted(pyvirtualcam.camera.BACKENDS)}"
            )
        self._size = output_size(s, width, height)
        self._format = self._pick_format(backend, pyvirtualcam.camera.BACKENDS)
        rate = s.fps or fps
        try:
            self._camera = pyvirtualcam.Camera(
                *self._size, rate, fmt=pyvirtualcam.PixelFormat[self._format], device=s.device, backend=backend
            )
        except Exception as exc:  # noqa: BLE001 - pyvirtualcam reports every device problem as a bare exception
            raise PluginError(self._explain(exc, rate)) from exc
        logger.info(
            "virtual camera %r (backend %s) at %dx%d, %.2f fps, sending %s",
            self._camera.device, self._camera.backend, *self._size, rate, self._format,
        )

    def _pick_format(self, backend: str | None, available: dict[str, Any]) -> str:
        if self.settings.pixel_format != "auto":
            return self.settings.pixel_format
        names = [backend] if backend else list(available)
        return _AUTO_FORMAT.get(names[0], "RGB") if names else "RGB"

    def _explain(self, exc: Exception, rate: float) -> str:
        s = self.settings
        text = str(exc)
        if platform.system() == "Linux" and "v4l2 loopback" in text.lower():
            return f"sink 'virtualcam': no v4l2loopback device on this machine: {V4L2LOOPBACK_HELP}. ({text})"
        width, height = self._size
        return (
            f"sink 'virtualcam': the virtual camera refused {width}x{height} at {rate:g} fps "
            f"in {self._format} (settings 'width'/'height'/'fps'/'pixel_format', backend={s.backend!r}, "
            f"device={s.device!r}): {text}"
        )

    def write(self, frame: Frame) -> None:
        if self._camera is None:
            raise PluginError("sink 'virtualcam': write() called before open()")
        self._camera.send(_CONVERT[self._format](fit(frame.image, *self._size)))

    def _close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None
