"""LoRA files (kohya and diffusers/PEFT formats), merged into UNet and text-encoder weights.

Each layer merges as ``W + weight * (alpha / rank) * up @ down`` (the reference ignored alpha).
Conv layers (1x1 or 3x3 ``down``, 1x1 ``up``) merge the same way on flattened kernels. Several
LoRAs apply in order, each with its own weight. Merging is two-phase: every layer of every LoRA is
matched and shape-checked first; only then is any weight touched, so a bad LoRA changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import IncompatibleCheckpointError, preview
from .files import StateDict

logger = logging.getLogger(__name__)

TARGETS = ("unet", "text_encoder")
_KOHYA = {"lora_unet_": "unet", "lora_te_": "text_encoder"}
_PEFT_PREFIXES = {"unet.": "unet", "text_encoder.": "text_encoder", "base_model.model.": "unet"}
_PEFT_SUFFIXES = {
    ".lora_A.weight": "down", ".lora_B.weight": "up", ".lora.down.weight": "down", ".lora.up.weight": "up",
    ".lora_down.weight": "down", ".lora_up.weight": "up",
}


@dataclass
class LoraLayer:
    target: str  # "unet" | "text_encoder"
    module: str  # dotted module name in the target, or (kohya) its underscore form
    down: torch.Tensor  # (rank, in[, kh, kw])
    up: torch.Tensor  # (out, rank[, 1, 1])
    alpha: float | None  # None: alpha = rank (scale 1)

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        return (self.alpha if self.alpha is not None else self.rank) / self.rank


@dataclass
class LoraFile:
    path: Path
    layers: list[LoraLayer]
    weight: float = 1.0


def parse_lora(state: Mapping[str, torch.Tensor], path: str | Path, weight: float = 1.0) -> LoraFile:
    """Recognise the format and group the tensors into layers; raise for anything else."""
    path = Path(path)
    keys = list(state)
    if any(k.startswith(("lora_te1_", "lora_te2_")) for k in keys):
        raise IncompatibleCheckpointError(f"{path}: an SDXL LoRA (two text encoders, lora_te1_/lora_te2_); Live2Diff runs on SD1.5")
    if any(re.search(r"\.(hada_|lokr_)", k) for k in keys):
        raise IncompatibleCheckpointError(f"{path}: a LyCORIS LoHa/LoKr file; only plain LoRA (kohya or PEFT) is supported")
    if any(k.startswith(tuple(_KOHYA)) for k in keys):
        layers = _parse_kohya(state, path)
    elif any(k.endswith(tuple(_PEFT_SUFFIXES)) for k in keys):
        layers = _parse_peft(state, path)
    else:
        raise IncompatibleCheckpointError(
            f"{path}: not a LoRA file: expected kohya keys (lora_unet_*/lora_te_*) or diffusers/PEFT keys "
            f"(*.lora_A.weight / *.lora_B.weight), got {preview(keys[:6])}"
        )
    return LoraFile(path, layers, weight)


def _parse_kohya(state: Mapping[str, torch.Tensor], path: Path) -> list[LoraLayer]:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in state.items():
        name, _, part = key.partition(".")
        if not name.startswith(tuple(_KOHYA)) or part not in ("lora_down.weight", "lora_up.weight", "alpha"):
            unknown.append(key)
            continue
        groups.setdefault(name, {})[part] = tensor
    if unknown:
        raise IncompatibleCheckpointError(f"{path}: unexpected keys in a kohya LoRA: {preview(unknown)}")
    layers = []
    for name, parts in groups.items():
        if "lora_down.weight" not in parts or "lora_up.weight" not in parts:
            raise IncompatibleCheckpointError(f"{path}: layer {name} lacks lora_down or lora_up")
        prefix = next(p for p in _KOHYA if name.startswith(p))
        alpha = float(parts["alpha"]) if "alpha" in parts else None
        layers.append(LoraLayer(_KOHYA[prefix], name.removeprefix(prefix), parts["lora_down.weight"], parts["lora_up.weight"], alpha))
    return layers


def _peft_alphas(path: Path) -> tuple[float | None, dict[str, float]]:
    """lora_alpha (and alpha_pattern) from a PEFT adapter_config.json next to the file, when there is one."""
    config = path.with_name("adapter_config.json")
    if not config.is_file():
        return None, {}
    data = json.loads(config.read_text(encoding="utf-8"))
    alpha = data.get("lora_alpha")
    return (float(alpha) if alpha is not None else None), {k: float(v) for k, v in (data.get("alpha_pattern") or {}).items()}


def _parse_peft(state: Mapping[str, torch.Tensor], path: Path) -> list[LoraLayer]:
    default_alpha, alpha_pattern = _peft_alphas(path)
    groups: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in state.items():
        target, body = "unet", key
        for prefix, name in _PEFT_PREFIXES.items():
            if key.startswith(prefix):
                target, body = name, key.removeprefix(prefix)
                break
        suffix = next((s for s in _PEFT_SUFFIXES if body.endswith(s)), None)
        if suffix is not None:
            groups.setdefault((target, body.removesuffix(suffix)), {})[_PEFT_SUFFIXES[suffix]] = tensor
        elif body.endswith(".alpha"):
            groups.setdefault((target, body.removesuffix(".alpha")), {})["alpha"] = tensor
        else:
            unknown.append(key)
    if unknown:
        raise IncompatibleCheckpointError(f"{path}: unexpected keys in a diffusers/PEFT LoRA: {preview(unknown)}")
    layers = []
    for (target, module), parts in groups.items():
        if "down" not in parts or "up" not in parts:
            raise IncompatibleCheckpointError(f"{path}: layer {module} lacks lora_A or lora_B")
        module = module.replace(".processor.", ".").replace("_lora", "")  # old diffusers attn-processor names
        alpha = float(parts["alpha"]) if "alpha" in parts else alpha_pattern.get(module, default_alpha)
        layers.append(LoraLayer(target, module, parts["down"], parts["up"], alpha))
    return layers


@dataclass
class _Planned:
    target: str
    key: str
    delta_scale: float
    layer: LoraLayer


def plan_merge(loras: Sequence[LoraFile], weights: Mapping[str, Mapping[str, torch.Tensor]]) -> list[_Planned]:
    """Match every layer to a weight of ``weights[target]`` and check its shape; raise before any change."""
    lookup = {t: {k.removesuffix(".weight").replace(".", "_"): k for k in w if k.endswith(".weight")} for t, w in weights.items()}
    plan = []
    for lora in loras:
        unmatched, wrong = [], []
        for layer in lora.layers:
            table = weights.get(layer.target)
            if table is None:
                unmatched.append(f"{layer.target}:{layer.module}")
                continue
            key = _find_weight(layer.module, table, lookup[layer.target])
            if key is None:
                unmatched.append(f"{layer.target}:{layer.module}")
                continue
            expected = tuple(table[key].shape)
            if layer.up.ndim == 4 and tuple(layer.up.shape[2:]) != (1, 1):
                wrong.append(f"{key}: up kernel {tuple(layer.up.shape)} (only 1x1 up projections are supported)")
            elif (
                layer.up.shape[1] != layer.down.shape[0]
                or layer.up.shape[0] != expected[0]
                or layer.down[0].numel() * layer.up.shape[0] != table[key].numel()
            ):
                wrong.append(f"{key}: weight {expected}, LoRA up {tuple(layer.up.shape)} x down {tuple(layer.down.shape)}")
            else:
                plan.append(_Planned(layer.target, key, lora.weight * layer.scale, layer))
        if unmatched or wrong:
            lines = [f"{lora.path}: this LoRA does not fit the model (a LoRA for another base model, e.g. SDXL or SD2?):"]
            if unmatched:
                lines.append(f"  {len(unmatched)} layers name no layer of the model: {preview(unmatched)}")
            if wrong:
                lines.append(f"  {len(wrong)} shape mismatches: {wrong[:6]}")
            raise IncompatibleCheckpointError("\n".join(lines))
    return plan


def _find_weight(module: str, table: Mapping[str, torch.Tensor], underscored: Mapping[str, str]) -> str | None:
    """The weight key a LoRA layer names: dotted or kohya-underscored, with or without CLIP's
    ``text_model.`` prefix (transformers 5 dropped it from CLIPTextModel's own keys)."""
    for name in (module, module.removeprefix("text_model."), module.removeprefix("text_model_"), "text_model." + module):
        if f"{name}.weight" in table:
            return f"{name}.weight"
        if name in underscored:
            return underscored[name]
    return None


def lora_delta(layer: LoraLayer, shape: torch.Size) -> torch.Tensor:
    """up @ down on flattened kernels, reshaped to the weight's shape (float32)."""
    up = layer.up.flatten(1).float()  # (out, rank)
    down = layer.down.flatten(1).float()  # (rank, in * kh * kw)
    return (up @ down).reshape(shape)


def merge_loras(loras: Sequence[LoraFile], weights: dict[str, StateDict]) -> dict[str, StateDict]:
    """Merge in order into ``weights`` (its dict entries are replaced, no tensor is written in place,
    so tensors shared with a model already running stay untouched). Returns ``weights``."""
    plan = plan_merge(loras, weights)
    merged = weights
    for step in plan:
        w = merged[step.target][step.key]
        merged[step.target][step.key] = (w.float() + step.delta_scale * lora_delta(step.layer, w.shape)).to(w.dtype)
    for lora in loras:
        logger.info("merged LoRA %s (%d layers, weight %.2f)", lora.path, len(lora.layers), lora.weight)
    return merged
