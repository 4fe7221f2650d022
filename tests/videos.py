"""Test helper: read back a video file the way a user's player would."""

from __future__ import annotations

from pathlib import Path

import cv2


def count_frames(path: str | Path) -> tuple[int, tuple[int, int]]:
    """(decodable frames, (height, width) of the last one)."""
    capture = cv2.VideoCapture(str(path))
    count, shape = 0, (0, 0)
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        count, shape = count + 1, bgr.shape[:2]
    capture.release()
    return count, shape
