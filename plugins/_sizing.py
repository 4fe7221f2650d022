"""What every sink shares: optional width/height settings and scaling frames to that size."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from live2diff_broadcast.plugin_api import PluginSettings


class SinkSizeSettings(PluginSettings):
    """Output size; unset means the size passed to ``open()``."""

    width: int | None = Field(default=None, ge=16, le=7680, description="output width in pixels")
    height: int | None = Field(default=None, ge=16, le=4320, description="output height in pixels")


def output_size(settings: SinkSizeSettings, width: int, height: int) -> tuple[int, int]:
    """(width, height) a sink publishes at: its own settings first, else what open() was given."""
    return settings.width or width, settings.height or height


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale (H, W, C) ``image`` to (height, width, C); returned unchanged when already that size."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrinking = width * height < w * h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
