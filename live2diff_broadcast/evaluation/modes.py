"""The configurations the harness compares (paper Table 1's method row and Table 2's ablation).

* ``live2diff``: the full method through exactly the live streaming path (KV cache, sinks, depth);
* ``no_warmup_inference``: Table 2's setting B: the model keeps its warmup-trained mask but at
  inference the warmup area holds the *latest predecessor* frames instead of the initial frames
  (a sliding window of the last ``window`` frames, no fixed sinks). Recomputed each frame with the
  masked attention, since a sliding sink area cannot be cached (``engine/recompute.py``,
  ``sinks="sliding"``);
* ``no_depth``: the depth prior's residual is switched off (Table 2's "use depth" column);
* ``frame_by_frame``: a StreamDiffusion-style baseline: the same UNet with every temporal module
  bypassed and the same noise for every frame (StreamDiffusion's choice), through the same
  stream-batch pipeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch

from ..engine.ablation import depth_prior_off, temporal_modules_off
from ..engine.components import Live2DiffComponents
from ..engine.config import StreamConfig
from ..engine.recompute import recompute_stream
from ..engine.stream import Live2DiffStream


@dataclass(frozen=True)
class Mode:
    name: str
    warmup_inference: bool = True  # sinks are the initial frames (False: latest predecessors)
    depth: bool = True
    temporal: bool = True  # False: motion modules bypassed, fixed noise (StreamDiffusion-style)
    description: str = ""


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("live2diff", description="full method (warmup sinks, depth prior, KV cache)"),
        Mode("no_warmup_inference", warmup_inference=False, description="warmup area filled with latest predecessors"),
        Mode("no_depth", depth=False, description="depth prior off"),
        Mode("frame_by_frame", temporal=False, description="StreamDiffusion-style: no temporal module, fixed noise"),
    )
}


def parse_modes(names: str) -> list[Mode]:
    """Comma-separated mode names (``all``: every mode) -> Modes; unknown names are an error."""
    wanted = list(MODES) if names.strip() == "all" else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in MODES]
    if unknown or not wanted:
        raise ValueError(f"unknown evaluation mode(s) {unknown or names!r}; choose from {', '.join(MODES)} or 'all'")
    return [MODES[n] for n in wanted]


@contextmanager
def mode_stream(
    mode: Mode, components: Live2DiffComponents, config: StreamConfig, device: torch.device, dtype: torch.dtype
) -> Iterator[Live2DiffStream]:
    """A fresh stream of ``components`` configured for ``mode``; the components are restored on exit."""
    with ExitStack() as stack:
        if not mode.depth:
            stack.enter_context(depth_prior_off(components.unet))
        if not mode.temporal:
            stack.enter_context(temporal_modules_off(components.unet))
            config = dataclasses.replace(config, noise_mode="fixed")
        if mode.warmup_inference:
            yield Live2DiffStream(components, config, device=device, dtype=dtype)
        else:  # the warmup area slides along with the predecessors: recomputed per frame, no cache
            yield recompute_stream(components, config, device=device, dtype=dtype, sinks="sliding")
