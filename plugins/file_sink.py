"""``file`` sink: write a video anyone can play (.mp4 as mp4v, .avi as MJPG)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
from pydantic import Field

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, Sink

from ._sizing import SinkSizeSettings, fit, output_size

logger = logging.getLogger(__name__)

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}  # what OpenCV's wheels can encode everywhere


class FileSinkSettings(SinkSizeSettings):
    path: Path = Field(description="video to write: .mp4 (mp4v), .avi or .mkv (MJPG)")
    fps: float | None = Field(default=None, gt=0, le=240, description="file frame rate (default: open()'s)")
    fourcc: str | None = Field(default=None, min_length=4, max_length=4, description="override the codec (e.g. XVID)")


class FileSink(Sink):
    """Appends every written frame to a video file, scaled to the sink's size."""

    name = "file"
    description = "video file via OpenCV (settings: path, width, height, fps, fourcc)"
    Settings = FileSinkSettings
    settings: FileSinkSettings

    def __init__(self, settings: FileSinkSettings) -> None:
        super().__init__(settings)
        self._writer: cv2.VideoWriter | None = None
        self._size = (0, 0)
        self.frames_written = 0

    def open(self, width: int, height: int, fps: float) -> None:
        s = self.settings
        suffix = s.path.suffix.lower()
        fourcc = s.fourcc or CODECS.get(suffix)
        if fourcc is None:
            raise PluginError(
                f"sink 'file': setting 'path': cannot tell the codec for {str(s.path)!r}; "
                f"expected a name ending in one of {sorted(CODECS)} (or set 'fourcc')"
            )
        if not s.path.parent.is_dir():
            raise PluginError(f"sink 'file': setting 'path': folder {str(s.path.parent)!r} does not exist")
        self._size = output_size(s, width, height)
        writer = cv2.VideoWriter(str(s.path), cv2.VideoWriter.fourcc(*fourcc), s.fps or fps, self._size)
        if not writer.isOpened():
            raise PluginError(
                f"sink 'file': OpenCV cannot write {str(s.path)!r} with codec {fourcc!r} at {self._size[0]}x{self._size[1]}"
            )
        self._writer = writer
        logger.info("file sink writing %s (%s, %dx%d, %.3f fps)", s.path, fourcc, *self._size, s.fps or fps)

    def write(self, frame: Frame) -> None:
        if self._writer is None:
            raise PluginError("sink 'file': write() called before open()")
        self._writer.write(cv2.cvtColor(fit(frame.image, *self._size), cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.release()  # finalises the container: the file is playable only after this
            self._writer = None
            logger.info("file sink closed %s after %d frames", self.settings.path, self.frames_written)
