"""How far the streamed output moves with precision: fp32 against an fp64 reference, fp16 against fp32.

The same components (one random-weight master, cast per dtype), the same input frames and the
same noise (drawn in float32, then cast) run through the eager KV-cached stream in each dtype;
per output frame we take the relative L2 error ||a - b|| / ||b|| and the max abs error (the
images lie in [0, 1]), in float64 on the CPU. Relative error growing with the frame index is
drift through the KV cache; a non-finite frame is counted, never averaged away.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream


def scene(count: int, width: int, height: int, seed: int = 0) -> list[torch.Tensor]:
    """A slowly moving random scene: shifted copies of one image plus a little fresh noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, height, width, generator=g)
    return [base.roll(i, dims=2) * 0.9 + 0.1 * torch.rand(3, height, width, generator=g) for i in range(count)]


def stream_outputs(
    master: Live2DiffComponents, config: StreamConfig, device: torch.device, dtype: torch.dtype,
    inputs: list[torch.Tensor],
) -> dict[int, torch.Tensor]:
    """Every output frame of one eager stream over ``inputs`` (flushed), as float64 on the CPU."""
    components = copy.deepcopy(master).to(device, dtype)
    stream = Live2DiffStream(components, config, device, dtype)
    stream.set_prompt("precision check")
    out: dict[int, torch.Tensor] = {}
    for image in inputs:
        for o in stream.push(image):
            out[o.frame] = o.image.detach().to("cpu", torch.float64)
    for o in stream.flush():
        out[o.frame] = o.image.detach().to("cpu", torch.float64)
    del stream, components
    return out


def compare(candidate: dict[int, torch.Tensor], reference: dict[int, torch.Tensor]) -> dict[str, Any]:
    """Per-frame relative L2 and max abs error of ``candidate`` against ``reference``."""
    if sorted(candidate) != sorted(reference):
        raise ValueError(f"the two streams emitted different frames: {sorted(candidate)} vs {sorted(reference)}")
    rel, worst, nonfinite = [], 0.0, []
    for f in sorted(reference):
        a, b = candidate[f], reference[f]
        if not torch.isfinite(a).all():
            nonfinite.append(f)
            continue
        rel.append(((a - b).norm() / b.norm().clamp_min(1e-30)).item())
        worst = max(worst, (a - b).abs().max().item())
    return {
        "rel_l2_max": max(rel) if rel else float("nan"),
        "rel_l2_mean": sum(rel) / len(rel) if rel else float("nan"),
        "rel_l2_first_frame": rel[0] if rel else float("nan"),
        "rel_l2_last_frame": rel[-1] if rel else float("nan"),
        "max_abs": worst,
        "nonfinite_frames": nonfinite,
        "rel_l2_per_frame": rel,
    }


def precision_report(
    master: Live2DiffComponents, config: StreamConfig, device: torch.device, frames: int,
    half: torch.dtype = torch.float16, fp64: bool = True,
) -> dict[str, Any]:
    """fp32 vs fp64 (when ``fp64``) and ``half`` vs fp32 over ``warmup + frames`` input frames."""
    inputs = scene(config.causal.warmup + frames, config.width, config.height)
    fp32 = stream_outputs(master, config, device, torch.float32, inputs)
    report: dict[str, Any] = {
        "frames": len(fp32), "steps": config.num_steps, "size": f"{config.width}x{config.height}",
        "half_dtype": str(half).removeprefix("torch."),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    report["half_vs_fp32"] = compare(stream_outputs(master, config, device, half, inputs), fp32)
    if fp64:
        report["fp32_vs_fp64"] = compare(fp32, stream_outputs(master, config, device, torch.float64, inputs))
    return report
