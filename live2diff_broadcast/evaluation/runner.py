"""Running one clip through one mode: every frame through the live streaming path, timed.

Frames are pushed one at a time through ``FrameTranslator`` (the object ``render`` and ``run``
use), so the evaluated outputs are exactly what a live show would emit. Latency per frame is the
wall time from pushing input frame i to the moment output i is returned (warmup frames wait for
the whole warmup; pipelined frames wait n - 1 pushes), as the paper measures it ("the average time
that goes by between receiving an input frame and producing the corresponding output frame").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.components import Live2DiffComponents
from ..engine.config import StreamConfig
from ..engine.translator import FrameTranslator
from .modes import Mode, mode_stream


@dataclass
class ClipRun:
    outputs: list[np.ndarray]  # RGB uint8 (H, W, 3), one per input frame, in order
    latency_s: np.ndarray  # (N,) seconds from push of frame i to its output
    wall_s: float  # total wall time for the clip (all pushes + flush)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_clip(
    frames: list[np.ndarray],
    prompt: str,
    mode: Mode,
    components: Live2DiffComponents,
    config: StreamConfig,
    device: torch.device,
    dtype: torch.dtype,
    on_frame: Callable[[], None] | None = None,
) -> ClipRun:
    """Translate ``frames`` (already at the model's size) under ``mode``."""
    outputs: dict[int, np.ndarray] = {}
    done_at: dict[int, float] = {}
    pushed_at: list[float] = []
    with mode_stream(mode, components, config, device, dtype) as stream:
        stream.set_prompt(prompt)
        translator = FrameTranslator(stream)
        started = time.perf_counter()
        for frame in frames:
            pushed_at.append(time.perf_counter())
            ready = translator.push(frame)
            _sync(device)
            now = time.perf_counter()
            for index, image in ready:
                outputs[index], done_at[index] = image, now
            if on_frame is not None:
                on_frame()
        for index, image in translator.flush():
            outputs[index], done_at[index] = image, time.perf_counter()
        wall = time.perf_counter() - started
    missing = [i for i in range(len(frames)) if i not in outputs]
    if missing:
        raise RuntimeError(f"mode {mode.name}: no output for input frames {missing[:8]} (of {len(frames)})")
    latency = np.array([done_at[i] - pushed_at[i] for i in range(len(frames))])
    return ClipRun([outputs[i] for i in range(len(frames))], latency, wall)
