"""Assembling the Live2Diff denoiser from state dicts with ONE copy of the UNet weights.

The motion UNet is built on the meta device (no memory, no random init) and then *adopts* the
given tensors (``load_state_dict(assign=True)``): the spatial weights read from disk (after any
style / LoRA merge), the motion modules and the depth adapter become the model's parameters
without being copied. Going through ``UNet2DConditionModel`` + ``from_unet2d`` with real weights
would hold the spatial UNet twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from accelerate import init_empty_weights
from diffusers import MotionAdapter, UNet2DConditionModel
from diffusers.models.embeddings import SinusoidalPositionalEmbedding

from ..engine.unet import DepthAdapter, Live2DiffUNet, build_motion_unet
from .errors import KeyMismatchError
from .files import StateDict
from .keys import check_keys, shapes_of
from .live2diff_ckpt import Live2DiffWeights, depth_adapter_channels


def expected_unet_shapes(unet_config: Mapping[str, Any]) -> dict[str, torch.Size]:
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(dict(unet_config))
    return {k: v.shape for k, v in unet.state_dict().items()}


def cast(state: Mapping[str, torch.Tensor], dtype: torch.dtype) -> StateDict:
    """Same dict values where the dtype already matches (no copy)."""
    return {k: v if v.dtype == dtype else v.to(dtype) for k, v in state.items()}


def assemble_unet(
    unet_config: Mapping[str, Any],
    adapter_config: Mapping[str, Any],
    spatial: StateDict,
    live2diff: Live2DiffWeights,
    path: object,
    dtype: torch.dtype = torch.float32,
) -> Live2DiffUNet:
    """Spatial SD1.5 weights + Live2Diff motion / depth weights -> a Live2DiffUNet (tensors adopted)."""
    # 1. the architecture, all on meta
    with init_empty_weights(include_buffers=True):
        unet2d = UNet2DConditionModel.from_config(dict(unet_config))
        adapter = MotionAdapter(**adapter_config)
        motion_unet = build_motion_unet(unet2d, adapter)
    # 2. one state dict: spatial + motion + the positional tables: the checkpoint's (as the authors'
    #    strict=False load takes them), else the sinusoid MotionAdapter computes
    state = cast(spatial, dtype)
    state.update(cast(live2diff.motion, dtype))
    expected = motion_unet.state_dict()
    for key, value in expected.items():
        if key.endswith(".pe"):  # (1, L, C)
            own = live2diff.pe.get(key)
            table = own if own is not None else SinusoidalPositionalEmbedding(int(value.shape[2]), int(value.shape[1])).pe
            state[key] = table.to(dtype)
    stray = sorted(set(live2diff.pe) - set(expected))
    if stray:
        raise KeyMismatchError(f"{path}: positional tables for motion blocks this UNet does not have: {stray[:4]}")
    check_keys(shapes_of(state), {k: v.shape for k, v in expected.items()}, "Live2Diff motion UNet", path)
    motion_unet.load_state_dict(state, strict=True, assign=True)
    # 3. the depth adapter, its channels read off the weights
    depth = DepthAdapter(
        in_channels=int(live2diff.depth["conv_in.weight"].shape[1]),
        out_channels=int(live2diff.depth["conv_out.weight"].shape[0]),
        channels=depth_adapter_channels(live2diff.depth, path),
    )
    depth.load_state_dict(cast(live2diff.depth, dtype), strict=True, assign=True)
    try:
        unet = Live2DiffUNet(motion_unet, depth)
    except ValueError as exc:
        raise KeyMismatchError(f"{path}: {exc}") from None
    meta = [n for n, p in unet.named_parameters() if p.device.type == "meta"]
    meta += [n for n, b in unet.named_buffers() if b.device.type == "meta"]
    if meta:
        raise KeyMismatchError(f"{path}: model tensors left without weights: {meta[:8]}")
    return unet.eval()
