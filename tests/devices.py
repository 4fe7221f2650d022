"""The device the stream-level exactness tests run on: ``LIVE2DIFF_TEST_DEVICE`` (default cpu).

``LIVE2DIFF_TEST_DEVICE=cuda`` puts the ``tiny64`` components, and the streams the stream helpers
build over them, on the GPU; dtypes and assertions stay as written (float64 tolerances hold on
CUDA too). Tests that name the CPU explicitly stay on the CPU. scripts/gpu_check.py sets it.
"""

from __future__ import annotations

import os

import torch

from live2diff_broadcast.engine.components import Live2DiffComponents


def test_device() -> torch.device:
    name = os.environ.get("LIVE2DIFF_TEST_DEVICE", "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise RuntimeError(f"LIVE2DIFF_TEST_DEVICE={name!r} is not a torch device (expected e.g. 'cpu' or 'cuda')") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"LIVE2DIFF_TEST_DEVICE={name!r} but torch {torch.__version__} sees no CUDA GPU")
    return device


test_device.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def device_of(components: Live2DiffComponents) -> torch.device:
    """Where the components' UNet weights live (streams over them must run there)."""
    return next(components.unet.parameters()).device
