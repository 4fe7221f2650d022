"""The status caption drawn on passthrough and no-signal frames, so a streamer sees why the AI is off.

The words come from the caller (``runtime.telemetry.StreamState.caption``): media draws, it does not
know the broadcast's states.

Legible over any picture: white text on a dark band across the bottom of the frame (not the top,
where cameras and the test pattern put their own time stamps), one text pass (an outline drawn as a
second, thicker pass drifts from the glyphs, because OpenCV advances thick strokes further), scaled
to fit the width.
"""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BAND_ALPHA = 0.75  # how dark the band is (0: invisible, 1: black)


def status_caption(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with ``text`` on a dark band along the bottom."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.3, h / 720)
    thickness = max(1, round(2 * scale))
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    if text_w > w - 8:  # a narrow frame: shrink the text to fit
        scale *= (w - 8) / text_w
        (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(3, text_h // 2)
    top = max(0, h - text_h - baseline - 2 * pad)
    band = out[top:, :].astype(np.float32)
    out[top:, :] = (band * (1 - BAND_ALPHA)).astype(np.uint8)
    origin = (max(4, (w - text_w) // 2), h - pad - baseline)
    cv2.putText(out, text, origin, FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out
