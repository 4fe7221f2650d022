"""Shared stream helpers for the engine, accel and script tests: input frames, a stream over the
tiny model, and running a stream to the end."""

from __future__ import annotations

import torch

from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream

T_INDEX = {1: (35,), 2: (30, 40), 3: (30, 36, 42), 4: (25, 34, 43, 47)}


def frames(count: int, seed: int = 0, size: int = 64) -> list[torch.Tensor]:
    """``count`` frames (3, size, size) in [0, 1] of a slowly moving scene: shifted copies plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, size, size, generator=g)
    return [(base.roll(i, dims=2) * 0.9 + 0.1 * torch.rand(3, size, size, generator=g)) for i in range(count)]


def run(stream: Live2DiffStream, inputs: list[torch.Tensor], flush: bool = True) -> dict[int, torch.Tensor]:
    """Push every input (then flush): {input frame index: output image}; no frame may come twice."""
    out: dict[int, torch.Tensor] = {}
    for image in inputs:
        for o in stream.push(image):
            assert o.frame not in out, f"frame {o.frame} emitted twice"
            out[o.frame] = o.image
    if flush:
        for o in stream.flush():
            out[o.frame] = o.image
    return out


def make_stream(
    components: Live2DiffComponents,
    n: int,
    pipelined: bool = True,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    **config: object,
) -> Live2DiffStream:
    """A 64x64 stream with ``n`` denoising steps, prompt set; ``dtype`` and ``device`` default to the
    components' (tiny: float32, tiny64: float64); ``config``: further StreamConfig fields (seed, causal, ...)."""
    param = next(components.unet.parameters())
    dtype = param.dtype if dtype is None else dtype
    device = param.device if device is None else device
    stream_config = StreamConfig(height=64, width=64, t_index_list=T_INDEX[n], **config)  # type: ignore[arg-type]
    stream = Live2DiffStream(components, stream_config, device=device, dtype=dtype, pipelined=pipelined)
    stream.set_prompt("a cartoon dog")
    return stream
