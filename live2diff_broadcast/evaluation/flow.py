"""Optical flow between two RGB frames, behind one call: RAFT (torchvision) or OpenCV Farneback.

RAFT-large is used when torchvision is installed AND its pretrained weights are already in the
torch hub cache (this tool never downloads them: fetch them once with
``python -c "import torchvision; torchvision.models.optical_flow.raft_large(weights='DEFAULT')"``).
Otherwise the evaluation falls back to OpenCV's Farneback flow, says so loudly in the log, and
labels every result with the flow that produced it (``FlowEstimator.name``), since warp errors
from different flows are not comparable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

logger = logging.getLogger(__name__)

FARNEBACK_LABEL = "opencv-farneback (fallback: RAFT weights not present)"


class FlowEstimator(Protocol):
    name: str

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) x2 -> (H, W, 2) float32 flow: source pixel x sits at x + flow(x) in target."""
        ...


class FarnebackFlow:
    """Dense Farneback flow on grey levels (OpenCV), the labelled fallback."""

    def __init__(self, name: str = FARNEBACK_LABEL) -> None:
        self.name = name

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        a = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
        b = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0).astype(np.float32)


class RaftFlow:
    """torchvision's RAFT (inputs in [-1, 1], padded to multiples of 8)."""

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", name: str = "raft_large (torchvision)") -> None:
        self.model, self.device, self.name = model.eval().to(device), torch.device(device), name

    @torch.no_grad()
    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        h, w = source.shape[:2]
        ph, pw = (-h) % 8, (-w) % 8

        def prep(frame: np.ndarray) -> torch.Tensor:
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].float().div(127.5).sub(1)  # (1, 3, H, W)
            return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate").to(self.device)

        flow = self.model(prep(source), prep(target))[-1]  # (1, 2, H', W')
        return flow[0, :, :h, :w].permute(1, 2, 0).cpu().numpy().astype(np.float32)


def raft_weights_path() -> Path | None:
    """The cached RAFT-large checkpoint, or None (torchvision missing or weights not downloaded)."""
    try:
        from torchvision.models.optical_flow import Raft_Large_Weights
    except ImportError:
        return None
    name = Path(Raft_Large_Weights.DEFAULT.url).name
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return path if path.is_file() else None


def default_flow(prefer: str = "auto", device: torch.device | str = "cpu") -> FlowEstimator:
    """``auto``: RAFT when its weights are cached, else Farneback (loudly). ``farneback``: always it."""
    if prefer not in ("auto", "raft", "farneback"):
        raise ValueError(f"flow must be 'auto', 'raft' or 'farneback', got {prefer!r}")
    if prefer == "farneback":
        return FarnebackFlow(name="opencv-farneback")
    weights = raft_weights_path()
    if weights is None:
        msg = (
            "RAFT weights are not in the torch hub cache (or torchvision is not installed): warp error uses "
            "OpenCV Farneback flow instead, labelled as such. For the paper's flow: pip install torchvision, then "
            "python -c \"import torchvision; torchvision.models.optical_flow.raft_large(weights='DEFAULT')\""
        )
        if prefer == "raft":
            raise FileNotFoundError(msg)
        logger.warning("FLOW FALLBACK: %s", msg)
        return FarnebackFlow()
    from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

    logger.info("warp error flow: RAFT-large from %s", weights)
    return RaftFlow(raft_large(weights=Raft_Large_Weights.DEFAULT, progress=False), device)
