"""Finding cameras: names the OS exposes (Linux sysfs) and quick, time-bounded index probes."""

from __future__ import annotations

import logging
import platform
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from live2diff_broadcast.media.opencv_log import quiet_opencv

logger = logging.getLogger(__name__)

SYSFS_V4L = Path("/sys/class/video4linux")

# The ``api`` setting -> OpenCV capture backend.
CAPTURE_APIS: dict[str, int] = {
    "auto": cv2.CAP_ANY,
    "v4l2": cv2.CAP_V4L2,
    "dshow": cv2.CAP_DSHOW,
    "msmf": cv2.CAP_MSMF,
    "avfoundation": cv2.CAP_AVFOUNDATION,
}


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str  # "" where the OS exposes no name
    size: tuple[int, int] | None = None  # (width, height) it opened at, if probed


def named_cameras(root: Path = SYSFS_V4L) -> dict[int, str]:
    """{index: name} from Linux sysfs (``/sys/class/video4linux/videoN/name``); {} elsewhere."""
    if platform.system() != "Linux" or not root.is_dir():
        return {}
    found: dict[int, str] = {}
    for entry in sorted(root.iterdir()):
        match = re.fullmatch(r"video(\d+)", entry.name)
        name_file = entry / "name"
        if match and name_file.is_file():
            found[int(match.group(1))] = name_file.read_text(errors="replace").strip()
    return found


def index_for_name(name: str, root: Path = SYSFS_V4L) -> int | None:
    """The index of the camera called ``name`` (exact, case-insensitive, else a unique substring)."""
    cameras = named_cameras(root)
    wanted = name.strip().lower()
    exact = [i for i, n in cameras.items() if n.lower() == wanted]
    if exact:
        return exact[0]
    partial = [i for i, n in cameras.items() if wanted in n.lower()]
    return partial[0] if len(partial) == 1 else None


def probe_indices(count: int, timeout: float, api: str = "auto") -> list[CameraInfo]:
    """Try to open indices 0..count-1 in parallel; those that opened within ``timeout`` s in all."""
    quiet_opencv()  # an index with no camera is the normal case here, not a warning
    names = named_cameras()
    results: dict[int, tuple[int, int]] = {}
    lock = threading.Lock()

    def probe(index: int) -> None:
        capture = cv2.VideoCapture(index, CAPTURE_APIS[api])
        try:
            if capture.isOpened():
                size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
                with lock:
                    results[index] = size
        finally:
            capture.release()

    threads = [threading.Thread(target=probe, args=(i,), name=f"camera-probe-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout  # one budget shared by all probes
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        opened = dict(results)
    slow = [t.name for t in threads if t.is_alive()]
    if slow:
        logger.warning("camera probes still running after %.1f s (ignored): %s", timeout, ", ".join(slow))
    return [CameraInfo(i, names.get(i, ""), size) for i, size in sorted(opened.items())]
