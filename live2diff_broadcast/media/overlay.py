"""The status caption drawn on passthrough frames, so a streamer sees why the AI is off.

The words come from the caller (``runtime.telemetry.StreamState.caption``): media draws, it does not
know the broadcast's states.
"""

from __future__ import annotations

import cv2
import numpy as np


def status_caption(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) with ``text`` as one line of white-on-black text in the top-left corner."""
    out = image.copy()
    scale = max(0.3, out.shape[0] / 720)
    org = (4, max(12, int(18 * scale)))
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
