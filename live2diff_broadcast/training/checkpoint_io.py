"""Motion-module files: reading the AnimateDiff initialisation, writing live2diff.ckpt's layout.

The exported file uses the official ``live2diff.ckpt`` key layout (AnimateDiff original names:
``*.motion_modules.N.temporal_transformer.*`` with ``attention_blocks.{0,1}``, ``norms.{0,1}``,
``ff_norm``, ``pos_encoder.pe``; the depth adapter under ``flow_conv_in.*``), so the engine loads it
with the same code that loads the published checkpoint (``weights/live2diff_ckpt.py``):
``.ckpt`` is a torch file ``{"state_dict": ...}`` (tensors only: it opens with
``torch.load(weights_only=True)``); ``.safetensors`` holds the same keys.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from ..engine.unet import DepthAdapter, Live2DiffUNet
from ..weights.errors import IncompatibleCheckpointError
from ..weights.files import StateDict, read_state_dict
from ..weights.keys import check_keys, shapes_of
from ..weights.live2diff_ckpt import animatediff_to_diffusers

# diffusers MotionAdapter names -> AnimateDiff original names (inverse of live2diff_ckpt's renames)
_TO_ANIMATEDIFF = (
    (".attn1.", ".attention_blocks.0."),
    (".attn2.", ".attention_blocks.1."),
    (".norm1.", ".norms.0."),
    (".norm2.", ".norms.1."),
    (".norm3.", ".ff_norm."),
)


def to_animatediff(key: str) -> str:
    """``down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.weight`` ->
    ``down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight``."""
    block, rest = key.split(".motion_modules.", 1)
    index, rest = rest.split(".", 1)
    for new, old in _TO_ANIMATEDIFF:
        rest = rest.replace(new, old)
    return f"{block}.motion_modules.{index}.temporal_transformer.{rest}"


def motion_state(unet: Live2DiffUNet) -> StateDict:
    """The motion modules' weights under diffusers names, without the sinusoidal ``pe`` buffers."""
    return {
        k: v.detach().clone()
        for k, v in unet.unet.state_dict().items()
        if ".motion_modules." in k and not k.endswith(".pe")
    }


def live2diff_ckpt_state(unet: Live2DiffUNet, depth_adapter: DepthAdapter) -> StateDict:
    state: StateDict = {}
    for key, value in unet.unet.state_dict().items():
        if ".motion_modules." not in key:
            continue
        if key.endswith(".pos_embed.pe"):  # one table per block -> one per attention block, as AnimateDiff
            prefix = to_animatediff(key.removesuffix("pos_embed.pe") + "attn1.x").removesuffix(".attention_blocks.0.x")
            for i in (0, 1):
                state[f"{prefix}.attention_blocks.{i}.pos_encoder.pe"] = value.detach().clone().contiguous()
            continue
        state[to_animatediff(key)] = value.detach().clone().contiguous()
    for key, value in depth_adapter.state_dict().items():
        state[f"flow_conv_in.{key}"] = value.detach().clone().contiguous()
    return state


def export_live2diff(unet: Live2DiffUNet, depth_adapter: DepthAdapter, path: Path) -> Path:
    """Write the motion modules + depth adapter in live2diff.ckpt's layout (.ckpt or .safetensors)."""
    state = {k: v.float().cpu() if v.dtype in (torch.float16, torch.bfloat16) else v.cpu() for k, v in
             live2diff_ckpt_state(unet, depth_adapter).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".safetensors":
        save_file(state, str(tmp), metadata={"layout": "live2diff.ckpt (AnimateDiff-v1 names + flow_conv_in)"})
    elif path.suffix in (".ckpt", ".pt", ".pth"):
        torch.save({"state_dict": state}, tmp)
    else:
        raise ValueError(f"{path}: export as .safetensors or .ckpt")
    tmp.replace(path)
    return path


def load_animatediff_motion(unet: Live2DiffUNet, path: Path, allow_unsafe_pickle: bool = False) -> int:
    """Initialise the motion modules from an AnimateDiff-v1 motion module (e.g. mm_sd_v15.ckpt) or a
    live2diff-layout file; a depth adapter in the file is ignored here. Returns the tensors loaded."""
    raw = read_state_dict(path, allow_unsafe_pickle=allow_unsafe_pickle)
    motion = {
        animatediff_to_diffusers(k.removeprefix("module.")): v
        for k, v in raw.items()
        if ".motion_modules." in k and not k.endswith(".pe") and "grid" not in k
    }
    if not motion:
        raise IncompatibleCheckpointError(f"{path}: no *.motion_modules.* keys: not an AnimateDiff motion module")
    expected = {k: v.shape for k, v in motion_state(unet).items()}
    check_keys(shapes_of(motion), expected, "AnimateDiff-v1 motion modules", path)
    missing, unexpected = unet.unet.load_state_dict(motion, strict=False)
    if unexpected:
        raise IncompatibleCheckpointError(f"{path}: unexpected keys {unexpected[:5]}")
    return len(motion)


def load_depth_adapter(adapter: DepthAdapter, path: Path) -> None:
    """The ``flow_conv_in.*`` tensors of a live2diff-layout file into ``adapter`` (strict)."""
    raw = read_state_dict(path)
    depth = {k.removeprefix("module.").removeprefix("flow_conv_in."): v for k, v in raw.items()
             if k.removeprefix("module.").startswith("flow_conv_in.")}
    if not depth:
        raise IncompatibleCheckpointError(f"{path}: no flow_conv_in.* (depth adapter) keys")
    adapter.load_state_dict(depth, strict=True)
