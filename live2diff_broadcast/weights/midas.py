"""MiDaS v3 DPT-Hybrid: the original ``dpt_hybrid_384.pt`` converted to transformers' DPT keys.

The original file (isl-org/MiDaS release v3) names its parts ``pretrained.model.*`` (the hybrid
ViT: a BiT ResNet stem + 12 transformer blocks), ``pretrained.act_postprocess{n}.*`` (reassemble)
and ``scratch.*`` (fusion + head). The mapping below is a table of patterns; the ViT's fused
``attn.qkv`` is split into query / key / value. The classifier head (``pretrained.model.head``) is
not part of depth estimation and is dropped; every other key must land on a model key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from accelerate import init_empty_weights
from transformers import BitConfig, DPTConfig, DPTForDepthEstimation

from .errors import KeyMismatchError, preview
from .files import StateDict
from .keys import check_keys, shapes_of

logger = logging.getLogger(__name__)

_VIT = r"pretrained\.model\."
_RULES: list[tuple[str, str]] = [
    (_VIT + r"cls_token$", r"dpt.embeddings.cls_token"),
    (_VIT + r"pos_embed$", r"dpt.embeddings.position_embeddings"),
    (_VIT + r"patch_embed\.proj\.(weight|bias)$", r"dpt.embeddings.projection.\1"),
    (_VIT + r"patch_embed\.backbone\.stem\.conv\.weight$", r"dpt.embeddings.backbone.bit.embedder.convolution.weight"),
    (_VIT + r"patch_embed\.backbone\.stem\.norm\.(weight|bias)$", r"dpt.embeddings.backbone.bit.embedder.norm.\1"),
    (
        _VIT + r"patch_embed\.backbone\.stages\.(\d+)\.blocks\.(\d+)\.(.+)$",
        r"dpt.embeddings.backbone.bit.encoder.stages.\1.layers.\2.\3",
    ),
    (_VIT + r"blocks\.(\d+)\.norm1\.(weight|bias)$", r"dpt.encoder.layer.\1.layernorm_before.\2"),
    (_VIT + r"blocks\.(\d+)\.norm2\.(weight|bias)$", r"dpt.encoder.layer.\1.layernorm_after.\2"),
    (_VIT + r"blocks\.(\d+)\.attn\.proj\.(weight|bias)$", r"dpt.encoder.layer.\1.attention.output.dense.\2"),
    (_VIT + r"blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$", r"dpt.encoder.layer.\1.intermediate.dense.\2"),
    (_VIT + r"blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$", r"dpt.encoder.layer.\1.output.dense.\2"),
    (_VIT + r"norm\.(weight|bias)$", r"dpt.layernorm.\1"),
    (r"scratch\.layer(\d)_rn\.weight$", "convs"),
    (r"scratch\.refinenet(\d)\.out_conv\.(weight|bias)$", "fusion_projection"),
    (r"scratch\.refinenet(\d)\.resConfUnit(\d)\.conv(\d)\.(weight|bias)$", "fusion_residual"),
    (r"scratch\.output_conv\.(\d+)\.(weight|bias)$", r"head.head.\1.\2"),
    (r"pretrained\.act_postprocess(\d)\.0\.project\.0\.(weight|bias)$", "readout"),
    (r"pretrained\.act_postprocess(\d)\.3\.(weight|bias)$", "reassemble_projection"),
    (r"pretrained\.act_postprocess(\d)\.4\.(weight|bias)$", "reassemble_resize"),
]
_QKV = re.compile(_VIT + r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")
_DROPPED = re.compile(_VIT + r"head\.(weight|bias)$")


def _rename(key: str) -> str | None:
    for pattern, target in _RULES:
        m = re.match(pattern, key)
        if m is None:
            continue
        g = m.groups()
        if target == "convs":
            return f"neck.convs.{int(g[0]) - 1}.weight"
        if target == "fusion_projection":  # refinenet4 is the first fusion layer
            return f"neck.fusion_stage.layers.{4 - int(g[0])}.projection.{g[1]}"
        if target == "fusion_residual":
            return f"neck.fusion_stage.layers.{4 - int(g[0])}.residual_layer{g[1]}.convolution{g[2]}.{g[3]}"
        if target == "readout":
            return f"neck.reassemble_stage.readout_projects.{int(g[0]) - 1}.0.{g[1]}"
        if target == "reassemble_projection":
            return f"neck.reassemble_stage.layers.{int(g[0]) - 1}.projection.{g[1]}"
        if target == "reassemble_resize":
            return f"neck.reassemble_stage.layers.{int(g[0]) - 1}.resize.{g[1]}"
        return m.expand(target)
    return None


def is_original_midas(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(("pretrained.model.", "scratch.")) for k in state)


def convert_midas_state_dict(state: Mapping[str, torch.Tensor], path: str | Path) -> StateDict:
    """Original MiDaS DPT-Hybrid keys -> transformers DPTForDepthEstimation keys (qkv split)."""
    out: StateDict = {}
    unknown = []
    for key, tensor in state.items():
        key = key.removeprefix("module.")
        if _DROPPED.match(key):
            continue
        qkv = _QKV.match(key)
        if qkv is not None:
            layer, kind = qkv.groups()
            for name, part in zip(("query", "key", "value"), tensor.chunk(3, dim=0), strict=True):
                out[f"dpt.encoder.layer.{layer}.attention.attention.{name}.{kind}"] = part
            continue
        new = _rename(key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = tensor
    if unknown:
        raise KeyMismatchError(f"{path}: keys that are not part of MiDaS DPT-Hybrid: {preview(unknown)}")
    return out


def dpt_hybrid_midas_config() -> DPTConfig:
    """DPT-Hybrid as published by MiDaS v3 (and as Intel/dpt-hybrid-midas), 384x384 input."""
    backbone = BitConfig(
        global_padding="same", layer_type="bottleneck", depths=[3, 4, 9],
        out_features=["stage1", "stage2", "stage3"], embedding_dynamic_padding=True,
    )
    return DPTConfig(
        is_hybrid=True, backbone_config=backbone, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, image_size=384, patch_size=16, backbone_out_indices=[2, 5, 8, 11],
        neck_hidden_sizes=[256, 512, 768, 768], fusion_hidden_size=256, reassemble_factors=[1, 1, 1, 0.5],
        readout_type="project", backbone_featmap_shape=[1, 1024, 24, 24], neck_ignore_stages=[0, 1],
        use_batch_norm_in_fusion_residual=False,
    )


def dpt_from_state_dict(state: Mapping[str, torch.Tensor], path: str | Path, config: DPTConfig | None = None) -> DPTForDepthEstimation:
    """Build DPT with no random init (meta weights) and adopt the given tensors (original or HF keys)."""
    converted = convert_midas_state_dict(state, path) if is_original_midas(state) else dict(state)
    config = config or dpt_hybrid_midas_config()
    with init_empty_weights():
        model = DPTForDepthEstimation(config)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    check_keys(shapes_of(converted), expected, "DPT-Hybrid depth model (transformers DPTForDepthEstimation)", path)
    model.load_state_dict(converted, strict=True, assign=True)
    return model.eval()
