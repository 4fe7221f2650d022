"""Which backend runs the stream's parts, and why not the requested one: the telemetry's view.

``accel.backend.apply_backend`` fills it in; ``FrameTranslator`` reports it and records a fall
back to eager PyTorch when a style brings other weights than the accelerated graphs hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class BackendReport:
    """What runs, for telemetry: ``active`` is the UNet backend actually in use."""

    requested: str
    active: str = "pytorch"
    fallback_reason: str | None = None
    depth: str = "pytorch"
    vae: str = "pytorch"

    def fall_back(self, what: str, reason: str) -> None:
        message = f"{what}: {reason}"
        self.fallback_reason = message if self.fallback_reason is None else f"{self.fallback_reason}; {message}"
        logger.error("BACKEND FALLBACK -- %s -- running on PyTorch instead", message)
