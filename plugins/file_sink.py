"""``file`` sink: write a video anyone can play, that stays playable if the show is killed.

.mp4: fragmented MP4, H.264 (``live2diff_broadcast/media/av_writer.py``: after a SIGKILL all but the last second plays);
.mkv: Matroska, H.264; .avi: MJPG through OpenCV (or any suffix with an explicit ``fourcc``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
from pydantic import Field

from live2diff_broadcast.media.av_writer import AvWriter
from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, Sink

from ._sizing import SinkSizeSettings, fit, output_size

logger = logging.getLogger(__name__)

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}  # what OpenCV's wheels can encode everywhere
AV_SUFFIXES = {".mp4", ".mkv"}  # written by PyAV (crash-safe H.264) unless a fourcc is set


class FileSinkSettings(SinkSizeSettings):
    path: Path = Field(description="video to write: .mp4 (fragmented, H.264), .mkv (H.264) or .avi (MJPG)")
    fps: float | None = Field(default=None, gt=0, le=240, description="file frame rate (default: open()'s)")
    fourcc: str | None = Field(default=None, min_length=4, max_length=4,
                               description="write through OpenCV with this codec (e.g. XVID); not crash-safe")


class FileSink(Sink):
    """Appends every written frame to a video file, scaled to the sink's size."""

    name = "file"
    description = "video file via OpenCV (settings: path, width, height, fps, fourcc)"
    Settings = FileSinkSettings
    settings: FileSinkSettings
    # Files this process has written: a sink reopened after a failure (disk full) continues in
    # "<stem>.part2<suffix>" (3, ...) instead of truncating the recording so far.
    _written: set[Path] = set()

    def __init__(self, settings: FileSinkSettings) -> None:
        super().__init__(settings)
        self._writer: cv2.VideoWriter | None = None
        self._av: AvWriter | None = None
        self.path = settings.path  # where frames go (a reopen continues in a new part: _fresh_path)
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
        self.path = self._fresh_path(s.path)
        if s.fourcc is None and suffix in AV_SUFFIXES:
            try:
                self._av = AvWriter(self.path, *self._size, s.fps or fps)
            except Exception as exc:
                raise PluginError(f"sink 'file': cannot write {str(self.path)!r}: {exc}") from exc
            logger.info("file sink writing %s (H.264, %s, %dx%d, %.3f fps)", self.path,
                        "fragmented MP4" if suffix == ".mp4" else "Matroska", *self._size, s.fps or fps)
            return
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*fourcc), s.fps or fps, self._size)
        if not writer.isOpened():
            raise PluginError(
                f"sink 'file': OpenCV cannot write {str(s.path)!r} with codec {fourcc!r} at {self._size[0]}x{self._size[1]}"
            )
        self._writer = writer
        logger.info("file sink writing %s (%s, %dx%d, %.3f fps)", self.path, fourcc, *self._size, s.fps or fps)

    @classmethod
    def _fresh_path(cls, path: Path) -> Path:
        """``path``, or the next free part name if this process already wrote ``path`` (a reopen)."""
        chosen, part = path, 1
        while chosen.resolve() in cls._written:
            part += 1
            chosen = path.with_name(f"{path.stem}.part{part}{path.suffix}")
        if chosen != path:
            logger.warning("file sink reopened: continuing the recording in %s (%s is kept)", chosen, path)
        cls._written.add(chosen.resolve())
        return chosen

    def write(self, frame: Frame) -> None:
        if self._av is not None:
            self._av.write(fit(frame.image, *self._size), frame.pts_ns)
            self.frames_written += 1
            return
        if self._writer is None:
            raise PluginError("sink 'file': write() called before open()")
        self._writer.write(cv2.cvtColor(fit(frame.image, *self._size), cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def _close(self) -> None:
        if self._av is not None:
            av_writer, self._av = self._av, None
            av_writer.close()
            logger.info("file sink closed %s after %d frames", self.path, self.frames_written)
        if self._writer is not None:
            self._writer.release()  # finalises the container: the file is playable only after this
            self._writer = None
            logger.info("file sink closed %s after %d frames", self.path, self.frames_written)
