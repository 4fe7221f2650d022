"""``file`` source: a video file decoded with OpenCV, paced at the file's own frame rate."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.media.opencv_log import quiet_opencv
from live2diff_broadcast.plugin_api import EndOfStream, PluginError, PluginSettings, Source

from ._pacing import Pacer

logger = logging.getLogger(__name__)


class FileSourceSettings(PluginSettings):
    path: Path = Field(description="video file to play (anything OpenCV decodes)")
    loop: bool = Field(default=False, description="start again at the end instead of ending the stream")
    fps: float | None = Field(default=None, gt=0, le=240, description="override the file's frame rate")


class FileSource(Source):
    """Plays a video file in real time; at its end, loops or raises EndOfStream.

    ``open`` decodes the first frame, so a missing, empty, unreadable or corrupt file is an error at the
    start of the show (``retry_open`` False: it would not fix itself), naming the file and why."""

    name = "file"
    retry_open = False
    description = "video file via OpenCV, paced at its own fps (settings: path, loop, fps)"
    Settings = FileSourceSettings
    settings: FileSourceSettings

    def __init__(self, settings: FileSourceSettings) -> None:
        super().__init__(settings)
        self._capture: cv2.VideoCapture | None = None
        self._fps = settings.fps or 30.0

    def open(self) -> None:
        path = self.settings.path
        problem = file_problem(path)
        if problem is not None:
            raise PluginError(f"source 'file': setting 'path': {str(path)!r} {problem}")
        quiet_opencv()  # a file OpenCV cannot read is our PluginError below, not its WARN lines
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise PluginError(f"source 'file': setting 'path': {str(path)!r}: OpenCV cannot open it as a video "
                              "(not a video file, or a container it cannot read)")
        ok, first = self._capture.read()
        if not ok:
            raise PluginError(f"source 'file': setting 'path': {str(path)!r} holds no frame OpenCV can decode "
                              "(truncated, corrupt, or no video stream)")
        file_fps = self._capture.get(cv2.CAP_PROP_FPS)
        self._fps = self.settings.fps or (file_fps if 0 < file_fps <= 1000 else 30.0)
        self._pacer = Pacer(self._fps)
        self._seq = 0
        self._pending: np.ndarray | None = first  # decoded already: the first frame read() gives
        logger.info("file source %s opened at %.3f fps (loop=%s)", path, self._fps, self.settings.loop)

    @property
    def fps(self) -> float:
        return self._fps

    def read(self, timeout: float) -> Frame | None:
        bgr = self._pending if self._pending is not None else self._decode()
        pts = self._pacer.wait(timeout)
        if pts is None:  # not due yet: keep the decoded frame so nothing is skipped
            self._pending = bgr
            return None
        self._pending = None
        frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), pts_ns=pts, seq=self._seq)
        self._seq += 1
        return frame

    def _decode(self) -> np.ndarray:
        """(H, W, 3) uint8 BGR: the next frame, rewinding once at the end when looping."""
        if self._capture is None:
            raise PluginError("source 'file': read() called before open()")
        ok, bgr = self._capture.read()
        if not ok and self.settings.loop and self._seq > 0:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._capture.read()
        if not ok:
            raise EndOfStream(f"source 'file': {str(self.settings.path)!r} ended after {self._seq} frames")
        return bgr

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (missing, a folder, empty, unreadable), or None."""
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a file (a folder?)"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    return None
