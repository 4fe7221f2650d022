"""Crash-safe video files for the ``file`` sink and ``render``: fragmented MP4 (.mp4) or Matroska (.mkv), H.264 via PyAV.

A plain MP4 is playable only once its index (``moov``) is written at close: a show killed with
SIGKILL (OOM, container stop) leaves an unplayable file. Fragmented MP4 (``movflags
frag_keyframe+empty_moov+default_base_moof``) writes an empty index first and then
self-contained fragments, one per keyframe: after a crash everything up to the last complete
fragment plays, in any player that opens an .mp4. The keyframe interval is one second, so a
crash loses at most about one second. Matroska needs no index at all and is as safe; .mp4 is
the default because every editor and upload site takes it.

Timing: ``pts`` is the frame's slot on the nominal grid (time base 1/fps) counted from the first
frame's capture time, so a file plays at its nominal rate and a frame that never came leaves a
gap in the pts a reader can count. A frame whose pts_ns does not increase is logged (the
supervisor guarantees it does) and put in the next slot.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)

MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}  # on disk per fragment


class AvWriter:
    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.path, self.fps = path, fps
        self.rate = Fraction(fps).limit_denominator(1001)
        fmt = "mp4" if path.suffix.lower() == ".mp4" else "matroska"
        self._container = av.open(str(path), mode="w", format=fmt, options=MP4_OPTIONS if fmt == "mp4" else {"flush_packets": "1"})
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = width + width % 2, height + height % 2  # yuv420p needs even sizes
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / self.rate
        stream.codec_context.gop_size = max(1, round(fps))  # one keyframe (and fragment) per second
        stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency"}
        self._stream = stream
        self._first_ns: int | None = None
        self._last_ns = -1
        self._last_pts = -1
        self.pts_violations = 0
        self._failed: Exception | None = None  # a mux that raised: FFmpeg's muxer state is then unusable

    def write(self, image: np.ndarray, pts_ns: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame captured at ``pts_ns``.

        After one failed write (disk full) every later write raises at once without touching FFmpeg:
        muxing again after ``avformat_write_header`` failed crashes the process (SIGSEGV, PyAV 17).
        The caller closes this writer and opens a new file."""
        if self._failed is not None:
            raise OSError(f"{self.path}: not writable any more since an earlier write failed "
                          f"({type(self._failed).__name__}: {self._failed}); close it and open a new file")
        if self._first_ns is None:
            self._first_ns = pts_ns
        if pts_ns <= self._last_ns:
            self.pts_violations += 1
            logger.error("file sink %s: frame pts_ns %d does not increase (previous %d)", self.path, pts_ns, self._last_ns)
        self._last_ns = max(self._last_ns, pts_ns)
        slot = round((pts_ns - self._first_ns) * self.rate / 1_000_000_000)
        pts = max(slot, self._last_pts + 1)
        self._last_pts = pts
        h, w = image.shape[:2]
        if (h, w) != (self._stream.height, self._stream.width):
            image = np.pad(image, ((0, self._stream.height - h), (0, self._stream.width - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = pts
        try:
            self._container.mux(self._stream.encode(frame))
        except Exception as exc:
            self._failed = exc
            raise

    def close(self) -> None:
        try:
            if self._failed is None:
                self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
