"""``preview`` sink: a local window (OpenCV highgui) to watch the output while streaming."""

from __future__ import annotations

import logging
import os
import platform
import re

import cv2
from pydantic import Field

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, Sink

from ._sizing import SinkSizeSettings, fit, output_size

logger = logging.getLogger(__name__)


def gui_backend() -> str | None:
    """The highgui backend OpenCV was built with ("GTK3", "QT5", "WIN32UI", "COCOA"...), or None (headless)."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if match is None or match.group(1).upper() == "NONE":
        return None
    return match.group(1)


class PreviewSettings(SinkSizeSettings):
    title: str = Field(default="Live2Diff preview", min_length=1, description="window title")


class PreviewSink(Sink):
    """Shows each frame in a window; closing the window stops the preview, not the stream."""

    name = "preview"
    description = "local preview window via OpenCV highgui (settings: title, width, height)"
    Settings = PreviewSettings
    settings: PreviewSettings

    def __init__(self, settings: PreviewSettings) -> None:
        super().__init__(settings)
        self._size = (0, 0)
        self._showing = False

    def open(self, width: int, height: int, fps: float) -> None:
        # 1. refuse early where highgui cannot work (it raises, or aborts the process without a display)
        if gui_backend() is None:
            raise PluginError(
                "sink 'preview': this OpenCV build has no GUI (opencv-python-headless); for a preview window "
                "replace it with the GUI build (`pip uninstall opencv-python-headless && pip install opencv-python`), "
                "or watch the 'ndi' or 'virtualcam' output instead"
            )
        if platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise PluginError("sink 'preview': no display (DISPLAY/WAYLAND_DISPLAY unset); a preview window needs a desktop")
        # 2. open the window
        self._size = output_size(self.settings, width, height)
        try:
            cv2.namedWindow(self.settings.title, cv2.WINDOW_NORMAL)
            cv2.resizeWindow(self.settings.title, *self._size)
        except cv2.error as exc:
            raise PluginError(f"sink 'preview': OpenCV could not open a window: {exc}") from exc
        self._showing = True

    def write(self, frame: Frame) -> None:
        if not self._showing:
            return
        title = self.settings.title
        cv2.imshow(title, cv2.cvtColor(fit(frame.image, *self._size), cv2.COLOR_RGB2BGR))
        cv2.waitKey(1)  # lets highgui draw; key presses are not used
        if cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
            logger.info("preview window closed by the user; the stream goes on")
            self._showing = False

    def _close(self) -> None:
        if self._showing:
            self._showing = False
            try:
                cv2.destroyWindow(self.settings.title)
            except cv2.error:
                logger.debug("preview window was already gone", exc_info=True)
