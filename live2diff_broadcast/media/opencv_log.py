"""OpenCV's own log lines off below ERROR, where OpenCV opens cameras and video files.

OpenCV writes its warnings straight to stderr, unformatted ("[ WARN:0@14.092] global
cap_v4l.cpp:915 open VIDEOIO(V4L2:/dev/video1): can't open camera by index"): one per camera
index probed, per capture backend it lacks, per odd file. A newcomer reads them as failures, and
the same facts reach the user as our own log lines and errors (the camera source names the
device it could not open, `devices` lists what it found). Errors still come through.
"""

from __future__ import annotations

import cv2


def quiet_opencv() -> None:
    """Only OpenCV's errors reach stderr from now on (process-wide, idempotent)."""
    if cv2.utils.logging.getLogLevel() > cv2.utils.logging.LOG_LEVEL_ERROR:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
