"""Resolution policy between a source and the model (no torch here: the supervisor uses it too).

``crop`` (default) scales the frame to cover H x W and cuts the overflow equally from both
sides (no distortion, no bars); ``fit`` scales it to fit inside and pads with black bars;
``stretch`` squashes it.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

ResizeMode = Literal["crop", "fit", "stretch"]


def fit_frame(frame: np.ndarray, height: int, width: int, mode: ResizeMode = "crop") -> np.ndarray:
    """(H', W', 3) uint8 -> (height, width, 3) uint8 under the resolution policy."""
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    if mode == "stretch":
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    cover = mode == "crop"
    scale = max(height / h, width / w) if cover else min(height / h, width / w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
    if cover:
        top, left = (sh - height) // 2, (sw - width) // 2
        return np.ascontiguousarray(scaled[top : top + height, left : left + width])
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - sh) // 2, (width - sw) // 2
    out[top : top + sh, left : left + sw] = scaled
    return out


def place_back(image: np.ndarray, height: int, width: int, mode: ResizeMode = "crop") -> np.ndarray:
    """The inverse of ``fit_frame``: a model-size (h, w, 3) output at the source's (height, width).

    ``crop``: the model saw the middle of the frame, scaled to cover its size; its output is scaled
    back onto exactly that region and the rest, which the model never saw, is black (bars at the
    sides of a 16:9 frame through a square model; none when the aspects match).
    ``fit``: the model saw the whole frame inside bars; the bars are cut off and the picture fills.
    ``stretch``: scaled back.
    """
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if mode == "stretch":
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if mode == "fit":
        scale = min(h / height, w / width)
        sh, sw = max(1, round(height * scale)), max(1, round(width * scale))
        top, left = (h - sh) // 2, (w - sw) // 2
        return cv2.resize(image[top : top + sh, left : left + sw], (width, height), interpolation=cv2.INTER_LINEAR)
    scale = max(h / height, w / width)  # model pixels per source pixel, as fit_frame chose it
    rh, rw = min(height, max(1, round(h / scale))), min(width, max(1, round(w / scale)))
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - rh) // 2, (width - rw) // 2
    out[top : top + rh, left : left + rw] = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return out
