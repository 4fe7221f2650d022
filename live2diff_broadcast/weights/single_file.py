"""DreamBooth / civitai single-file checkpoints (LDM layout) as a style: UNet + CLIP text encoder.

Conversion uses diffusers' single-file utilities with the *base model's own configs* (never a
config fetched from the Hub). The file's VAE (``first_stage_model.*``) is not used: the engine
decodes with TAESD. SDXL and SD2 files are recognised by their keys and shapes and refused with a
clear message before anything is converted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint

from .errors import IncompatibleCheckpointError
from .files import StateDict
from .keys import check_keys, normalize_clip_keys, shapes_of

logger = logging.getLogger(__name__)

UNET_PREFIX = "model.diffusion_model."
CLIP_PREFIX = "cond_stage_model.transformer."
VAE_PREFIX = "first_stage_model."


@dataclass
class StyleWeights:
    unet: StateDict  # diffusers UNet2DConditionModel keys
    text_encoder: StateDict  # transformers CLIPTextModel keys


def detect_family(state: Mapping[str, torch.Tensor], path: object, cross_attention_dim: int) -> None:
    """Refuse SDXL / SD2 / non-SD files with a message that says which one it is."""
    keys = list(state)
    if any(k.startswith(("conditioner.embedders.", f"{UNET_PREFIX}label_emb.")) for k in keys):
        raise IncompatibleCheckpointError(
            f"{path}: an SDXL checkpoint (has conditioner.embedders / label_emb, i.e. add_embedding); "
            "Live2Diff runs on Stable Diffusion 1.5: pick an SD1.5 style checkpoint"
        )
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise IncompatibleCheckpointError(
            f"{path}: an SD2.x checkpoint (OpenCLIP text encoder, cond_stage_model.model.*); "
            "Live2Diff runs on Stable Diffusion 1.5: pick an SD1.5 style checkpoint"
        )
    if not any(k.startswith(UNET_PREFIX) for k in keys):
        raise IncompatibleCheckpointError(
            f"{path}: no {UNET_PREFIX}* keys, so not a single-file Stable Diffusion checkpoint "
            "(a LoRA goes in models.loras; a diffusers folder in models.base)"
        )
    for key in keys:
        if key.startswith(UNET_PREFIX) and key.endswith("attn2.to_k.weight"):
            dim = int(state[key].shape[1])
            if dim != cross_attention_dim:
                family = {1024: "SD2.x", 2048: "SDXL"}.get(dim, "another model")
                raise IncompatibleCheckpointError(
                    f"{path}: cross-attention width {dim} at {key} means {family}; "
                    f"expected {cross_attention_dim} (Stable Diffusion 1.5)"
                )
            break


def convert_style_checkpoint(
    state: Mapping[str, torch.Tensor],
    path: str | Path,
    unet_config: Mapping[str, Any],
    unet_shapes: Mapping[str, torch.Size],
    text_shapes: Mapping[str, torch.Size],
) -> StyleWeights:
    """An LDM single-file state dict -> diffusers UNet + CLIP state dicts, checked key by key."""
    detect_family(state, path, int(unet_config["cross_attention_dim"]))
    unet = convert_ldm_unet_checkpoint(dict(state), dict(unet_config))
    check_keys(shapes_of(unet), unet_shapes, "Stable Diffusion 1.5 UNet", path)
    text = normalize_clip_keys(convert_ldm_clip_checkpoint(dict(state)), text_shapes)
    if not text:
        raise IncompatibleCheckpointError(f"{path}: no text encoder ({CLIP_PREFIX}*) in this checkpoint")
    check_keys(shapes_of(text), text_shapes, "CLIP ViT-L/14 text encoder", path)
    ignored = [k for k in state if not k.startswith((UNET_PREFIX, CLIP_PREFIX))]
    vae = sum(k.startswith(VAE_PREFIX) for k in ignored)
    logger.info(
        "%s: style UNet (%d tensors) + text encoder (%d); ignored %d VAE tensors (TAESD decodes) and %d others",
        path, len(unet), len(text), vae, len(ignored) - vae,
    )
    return StyleWeights(unet, text)
