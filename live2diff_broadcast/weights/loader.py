"""Loading the 'live2diff' preset: every component from the model store, checked, timed, measured.

``load_components`` builds everything; ``load_style`` builds a new UNet + text encoder for another
style (DreamBooth checkpoint / LoRAs) and returns NEW components, leaving the running ones as they
were if anything fails, so a live style switch swaps only on success.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderTiny
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, DPTConfig, DPTForDepthEstimation

from ..engine.components import Live2DiffComponents
from ..engine.depth import DPTDepthEstimator
from ..engine.scheduler import live2diff_scheduler
from ..engine.unet import Live2DiffUNet
from .denoiser import assemble_unet, cast, expected_unet_shapes
from .errors import CorruptCheckpointError
from .files import StateDict, read_state_dict
from .keys import check_keys, normalize_clip_keys, shapes_of
from .kohya_names import SD15_LAYERS_PER_BLOCK
from .live2diff_ckpt import expected_motion_shapes, load_live2diff_weights, motion_adapter_config
from .lora import LoraFile, merge_planned, parse_lora, plan_merge
from .lora_faders import LoraFaders, faders_for
from .manifest import profile_requirements
from .measure import measure
from .midas import dpt_from_state_dict
from .model_sources import ModelSources
from .single_file import convert_style_checkpoint
from .store import Located, ModelStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOptions:
    """Knobs that are not user settings (tests use tiny models with fewer heads)."""

    motion_num_attention_heads: int = 8  # AnimateDiff v1; no tensor shape depends on it
    dtype: torch.dtype = torch.float32  # weights are built in this dtype; move with Live2DiffComponents.to
    dpt_config: DPTConfig | None = None  # for an original MiDaS .pt file; None: DPT-Hybrid's own
    download_hint: str = ""  # the command named by the missing-files error


def locate_all(models: ModelSources, store: ModelStore | None = None, hint: str = "") -> dict[str, Located]:
    """Every file the profile needs, downloaded if allowed; else one error listing all that is missing."""
    store = store or ModelStore()
    return store.ensure(profile_requirements(models), download=models.auto_download, hint=hint)


def load_components(
    models: ModelSources, store: ModelStore | None = None, options: LoadOptions = LoadOptions()
) -> Live2DiffComponents:
    # 1. find every file first: a missing one fails here, before minutes of loading
    located = locate_all(models, store, options.download_hint)
    # 2. the denoiser and the text encoder (base or style, LCM-LoRA and style LoRAs merged)
    unet, text_encoder, faders = _load_denoiser_and_text(models, located, options)
    # 3. the small parts
    base = located["base"].root
    with measure("tokenizer"):
        tokenizer = CLIPTokenizer.from_pretrained(str(base / "tokenizer"))
    with measure("vae (TAESD)"):
        vae = AutoencoderTiny.from_pretrained(str(located["vae"].root), torch_dtype=options.dtype)
    with measure("depth (DPT-Hybrid)"):
        depth_model = load_depth_model(located["depth"], models.allow_unsafe_pickle, options.dpt_config)
    depth = DPTDepthEstimator(depth_model.to(options.dtype), input_size=int(depth_model.config.image_size))
    return Live2DiffComponents(
        unet=unet, vae=vae.eval(), text_encoder=text_encoder, tokenizer=tokenizer,
        scheduler=live2diff_scheduler(), depth=depth, random_weights=False, loras=faders,
    )


def load_style(
    current: Live2DiffComponents, models: ModelSources, store: ModelStore | None = None,
    options: LoadOptions = LoadOptions(),
) -> Live2DiffComponents:
    """New components with ``models``' style (checkpoint + LoRAs); ``current`` is never modified."""
    located = locate_all(models, store, options.download_hint)
    unet, text_encoder, faders = _load_denoiser_and_text(models, located, options)
    return dataclasses.replace(current, unet=unet, text_encoder=text_encoder, loras=faders)


def _load_denoiser_and_text(
    models: ModelSources, located: Mapping[str, Located], options: LoadOptions
) -> tuple[Live2DiffUNet, CLIPTextModel, LoraFaders | None]:
    unsafe = models.allow_unsafe_pickle
    base = located["base"]
    unet_config = read_json(base.file("unet/config.json"))
    text_config = CLIPTextConfig.from_pretrained(str(base.file("text_encoder/config.json").parent))
    unet_shapes = expected_unet_shapes(unet_config)
    text_shapes = expected_text_shapes(text_config)
    # 1. spatial UNet + text encoder weights: from the style checkpoint if any, else the base
    if "style" in located:
        path = located["style"].root
        with measure(f"style checkpoint {path.name}"):
            style = convert_style_checkpoint(read_state_dict(path, unsafe), path, unet_config, unet_shapes, text_shapes)
        spatial, text = style.unet, style.text_encoder
    else:
        with measure("base UNet weights"):
            unet_file = base.file("unet/diffusion_pytorch_model.safetensors")
            spatial = read_state_dict(unet_file, unsafe)
            check_keys(shapes_of(spatial), unet_shapes, "Stable Diffusion 1.5 UNet (unet/config.json)", unet_file)
        with measure("base text encoder weights"):
            text_file = base.file("text_encoder/model.safetensors")
            text = normalize_clip_keys(read_state_dict(text_file, unsafe), text_shapes)
            check_keys(shapes_of(text), text_shapes, "CLIP text encoder (text_encoder/config.json)", text_file)
    # 2. the Live2Diff motion modules + depth adapter
    adapter_config = motion_adapter_config(unet_config, options.motion_num_attention_heads)
    live2diff_path = located["live2diff"].root
    with measure("live2diff motion modules + depth adapter"):
        live2diff = load_live2diff_weights(
            live2diff_path, expected_motion_shapes(adapter_config), unet_shapes, allow_unsafe_pickle=unsafe
        )
    spatial = apply_checkpoint_spatial(spatial, live2diff.spatial, "style" in located, models.live2diff_spatial,
                                       live2diff_path)
    live2diff.spatial = {}
    # 3. LoRAs: LCM first (at weight 1), then the style LoRAs, every one checked before any merge;
    #    the style LoRAs' faders keep the weights they touch as they were before them
    lcm, style_loras = _read_loras(models, located, int(unet_config.get("layers_per_block", SD15_LAYERS_PER_BLOCK)))
    weights = {"unet": spatial, "text_encoder": text}
    with measure("LoRA merge"):
        lcm_plans, style_plans = plan_merge(lcm, weights), plan_merge(style_loras, weights)
        merge_planned(lcm, lcm_plans, weights)
        faded, lora_base = faders_for(style_loras, [spec.fader_name for spec in models.loras], style_plans, weights)
        merge_planned(style_loras, style_plans, weights)
    spatial, text = weights["unet"], weights["text_encoder"]
    # 4. build (weights adopted, not copied)
    with measure("Live2Diff UNet assembly"):
        unet = assemble_unet(unet_config, adapter_config, spatial, live2diff, live2diff_path, options.dtype)
    with measure("text encoder assembly"):
        text_encoder = build_text_encoder(text_config, text, options.dtype)
    faders = LoraFaders(faded, lora_base, {"unet": unet.unet, "text_encoder": text_encoder}) if faded else None
    return unet, text_encoder, faders


def apply_checkpoint_spatial(
    spatial: StateDict, extra: StateDict, from_style: bool, mode: str, path: Path
) -> StateDict:
    """The spatial UNet weights after those found in live2diff.ckpt (``extra``), as the authors' loader
    orders them: SD1.5 base, then the motion checkpoint (``load_state_dict(strict=False)`` takes its
    spatial keys too), then a DreamBooth checkpoint over both (``load_third_party_checkpoints``).
    So they replace the base's weights, and a style checkpoint (``from_style``) replaces them in turn.
    ``mode`` "ignore" keeps ``spatial`` as it is."""
    if not extra:
        return spatial
    if mode == "ignore":
        logger.warning("%s: ignoring its %d spatial UNet weights (models.live2diff_spatial = 'ignore'; the authors' "
                       "loader applies them)", path, len(extra))
        return spatial
    if from_style:
        kept = {k: v for k, v in extra.items() if k not in spatial}
        logger.info("%s: the style checkpoint replaces %d of its %d spatial UNet weights (the authors' loader loads "
                    "the DreamBooth file after the motion checkpoint)", path, len(extra) - len(kept), len(extra))
        return {**spatial, **kept}
    logger.warning("%s: applying its %d spatial UNet weights over the base UNet, as the authors' loader does "
                   "(models.live2diff_spatial = 'ignore' keeps the base's)", path, len(extra))
    return {**spatial, **extra}


def _read_loras(models: ModelSources, located: Mapping[str, Located], layers_per_block: int) -> tuple[list[LoraFile], list[LoraFile]]:
    """The LCM-LoRA (a list of at most one) and the style LoRAs; ``layers_per_block`` places original-SD block names."""
    lcm = []
    if "lcm_lora" in located:
        path = located["lcm_lora"].file("pytorch_lora_weights.safetensors")
        lcm.append(parse_lora(read_state_dict(path, models.allow_unsafe_pickle), path, 1.0, layers_per_block=layers_per_block))
    style = []
    for i, spec in enumerate(models.loras):
        path = located[f"lora:{i}"].root
        state = read_state_dict(path, models.allow_unsafe_pickle)
        style.append(parse_lora(state, path, spec.weight, layers_per_block=layers_per_block,
                                ignore_alpha=spec.file_alpha == "ignore"))
    return lcm, style


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{path}: not a readable JSON config ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptCheckpointError(f"{path}: expected a JSON object")
    return data


def expected_text_shapes(config: CLIPTextConfig) -> dict[str, torch.Size]:
    with init_empty_weights(include_buffers=True):
        model = CLIPTextModel(config)
    return {k: v.shape for k, v in model.state_dict().items()}


def build_text_encoder(config: CLIPTextConfig, state: StateDict, dtype: torch.dtype) -> CLIPTextModel:
    with init_empty_weights():
        model = CLIPTextModel(config)
    model.load_state_dict(cast(state, dtype), strict=True, assign=True)
    return model.eval()


def load_depth_model(located: Located, allow_unsafe_pickle: bool, config: DPTConfig | None) -> DPTForDepthEstimation:
    """A DPT folder / repo (config.json + weights), or a single file (original MiDaS .pt or HF keys)."""
    if located.requirement.single_file:
        path = located.root
        return dpt_from_state_dict(read_state_dict(path, allow_unsafe_pickle), path, config)
    weights = located.file("model.safetensors")
    return dpt_from_state_dict(read_state_dict(weights, allow_unsafe_pickle), weights, DPTConfig.from_pretrained(str(located.root)))
