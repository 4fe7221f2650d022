"""Shared helpers for the accel tests: streams over the tiny model and input frames."""

from __future__ import annotations

import torch

from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream
from tests.devices import device_of

T_INDEX = {1: (35,), 2: (30, 40), 3: (30, 36, 42), 4: (25, 34, 43, 47)}


def frames(count: int, seed: int = 0, size: int = 64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, size, size, generator=g)
    return [(base.roll(i, dims=2) * 0.9 + 0.1 * torch.rand(3, size, size, generator=g)) for i in range(count)]


def make_stream(
    components, n: int, dtype: torch.dtype = torch.float32, window: int = 16, warmup: int = 8, device: str | torch.device | None = None
) -> Live2DiffStream:
    config = StreamConfig(height=64, width=64, t_index_list=T_INDEX[n], causal=CausalWindow(window=window, warmup=warmup))
    stream = Live2DiffStream(components, config, device=device_of(components) if device is None else device, dtype=dtype)
    stream.set_prompt("a cartoon dog")
    return stream


def run(stream: Live2DiffStream, inputs: list[torch.Tensor]) -> dict[int, torch.Tensor]:
    out: dict[int, torch.Tensor] = {}
    for image in inputs:
        for o in stream.push(image):
            out[o.frame] = o.image
    for o in stream.flush():
        out[o.frame] = o.image
    return out
