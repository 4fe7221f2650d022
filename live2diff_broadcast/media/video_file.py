"""A video file that ``render`` writes, chosen by its suffix.

- ``.mp4``: H.264 in fragmented MP4 (``av_writer.py``, as the ``file`` sink writes it): plays in
  any player, and still plays when the render is stopped (SIGTERM: closed cleanly; SIGKILL: all
  but the last second);
- ``.mkv``: lossless FFV1 through OpenCV: the engine's frames exactly, so ``render --replay`` can
  be compared bit for bit with what ``run --record`` wrote;
- ``.avi``: MJPG through OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .av_writer import AvWriter

OPENCV_CODECS = {".mkv": "FFV1", ".avi": "MJPG"}
SUFFIXES = (".mp4", ".mkv", ".avi")


class VideoFileError(OSError):
    """The file cannot be written (suffix, folder or codec), with what was expected."""


class VideoFileWriter:
    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.path, self.size, self.fps = path, (width, height), fps
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise VideoFileError(f"{path}: cannot tell the format from {suffix or 'no suffix'!r}; expected a name "
                                 f"ending in .mp4 (H.264), .mkv (lossless FFV1) or .avi (MJPG)")
        if not path.parent.is_dir():
            raise VideoFileError(f"{path}: folder {str(path.parent)!r} does not exist")
        self._av: AvWriter | None = None
        self._cv: cv2.VideoWriter | None = None
        if suffix == ".mp4":
            try:
                self._av = AvWriter(path, width, height, fps)
            except Exception as exc:  # noqa: BLE001 - av.error.*: reported with the path
                raise VideoFileError(f"{path}: cannot write H.264 here: {exc}") from exc
            self.format = f"H.264 fragmented MP4, {width}x{height}"
        else:
            codec = OPENCV_CODECS[suffix]
            self._cv = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, (width, height))
            if not self._cv.isOpened():
                raise VideoFileError(f"{path}: OpenCV cannot write {codec} at {width}x{height} here")
            self.format = f"{'lossless FFV1' if codec == 'FFV1' else codec}, {width}x{height}"

    def write(self, rgb: np.ndarray, index: int) -> None:
        """(H, W, 3) uint8 RGB at the file's size, input frame ``index`` (its slot at the file's fps)."""
        if self._av is not None:
            self._av.write(rgb, round(index * 1e9 / self.fps))
        elif self._cv is not None:
            self._cv.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self._av is not None:
            writer, self._av = self._av, None
            writer.close()
        if self._cv is not None:
            self._cv.release()
            self._cv = None
