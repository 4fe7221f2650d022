"""``test_pattern`` source: moving colour bars with a burnt-in frame counter; no hardware needed."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginSettings, Source

from ._pacing import Pacer


class TestPatternSettings(PluginSettings):
    width: int = Field(default=640, ge=16, le=7680, description="frame width in pixels")
    height: int = Field(default=360, ge=16, le=4320, description="frame height in pixels (default 16:9, like webcams)")
    fps: float = Field(default=30.0, gt=0, le=240, description="frames per second")
    pattern: Literal["bars", "quadrants"] = Field(
        default="bars", description="bars: scrolling hues and a bouncing square; quadrants: still red / green / "
        "blue / white quarters (a known card to compare colours against downstream)")


# pattern "quadrants": top-left, top-right, bottom-left, bottom-right (RGB)
QUADRANTS = ((220, 30, 30), (30, 200, 60), (40, 60, 220), (235, 235, 235))


def quadrants(width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the four QUADRANTS colours, one per quarter."""
    image = np.empty((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    image[:h2, :w2], image[:h2, w2:], image[h2:, :w2], image[h2:, w2:] = QUADRANTS
    return image


def _bars(width: int, height: int) -> np.ndarray:
    """(H, 2W, 3) uint8 RGB: a horizontal hue sweep, twice as wide so it can scroll without wrapping."""
    hue = np.linspace(0, 180, 2 * width, endpoint=False, dtype=np.float32).astype(np.uint8)  # OpenCV hue: 0..179
    hsv = np.empty((1, 2 * width, 3), np.uint8)
    hsv[..., 0], hsv[..., 1], hsv[..., 2] = hue, 200, 230
    row = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.ascontiguousarray(np.repeat(row, height, axis=0))


class TestPatternSource(Source):
    """Scrolling hue bars, a bouncing square and ``#seq  t=seconds`` text, paced at ``fps``."""

    __test__ = False  # not a pytest test class despite its name
    name = "test_pattern"
    description = "moving colour bars with a frame counter (no hardware; settings: width, height, fps)"
    Settings = TestPatternSettings
    settings: TestPatternSettings

    def open(self) -> None:
        s = self.settings
        self._bars = _bars(s.width, s.height)
        self._pacer = Pacer(s.fps)
        self._seq = 0
        self._first_pts: int | None = None

    @property
    def fps(self) -> float:
        return self.settings.fps

    def read(self, timeout: float) -> Frame | None:
        pts = self._pacer.wait(timeout)
        if pts is None:
            return None
        if self._first_pts is None:
            self._first_pts = pts
        frame = Frame(self._draw(self._seq, (pts - self._first_pts) / 1e9), pts_ns=pts, seq=self._seq)
        self._seq += 1
        return frame

    def _draw(self, seq: int, seconds: float) -> np.ndarray:
        w, h = self.settings.width, self.settings.height
        if self.settings.pattern == "quadrants":
            image = quadrants(w, h)
        else:
            offset = (seq * 4) % w
            image = self._bars[:, offset : offset + w].copy()  # (H, W, 3)
            side = max(8, min(w, h) // 6)
            x = abs((seq * 7) % (2 * (w - side)) - (w - side))
            y = abs((seq * 5) % (2 * (h - side)) - (h - side))
            cv2.rectangle(image, (x, y), (x + side, y + side), (255, 255, 255), thickness=-1)
        scale = max(0.4, h / 480)
        text = f"#{seq}  t={seconds:.2f}s"
        cv2.putText(image, text, (8, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(image, text, (8, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return image
