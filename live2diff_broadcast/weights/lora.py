"""LoRA files (kohya, LyCORIS and diffusers/PEFT formats), merged into UNet and text-encoder weights.

Formats: kohya LoRA / LoCon (``lora_unet_*`` / ``lora_te_*`` with ``lora_down``/``lora_up``), by
diffusers layer names or by the original SD block names (``input_blocks``/``middle_block``/
``output_blocks``, mapped by diffusers' converters: kohya_names.py); LyCORIS LoHa and LoKr under
the same names (lycoris.py); diffusers/PEFT (``lora_A``/``lora_B``). Each layer has a delta
``ΔW`` (alpha/rank applied, the user's weight not: ``lora_deltas``) and merges as
``W + weight * ΔW``; for a plain LoRA ``ΔW = alpha/rank * up @ down`` (the reference ignored
alpha), on flattened kernels for conv layers (3x3 or 1x1 ``down``, 1x1 ``up``; or LyCORIS' Tucker
``lora_mid`` core between 1x1 ones). Several LoRAs apply in order, each with its own weight.
Merging is two-phase: every layer of every LoRA is matched and shape-checked first; only then is
any weight touched, so a bad LoRA changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import IncompatibleCheckpointError, preview
from .files import StateDict
from .kohya_names import SD15_LAYERS_PER_BLOCK, SgmNameError, is_sgm, map_sgm_names
from .lycoris import LOHA_PARTS, LOKR_PARTS, LayerFormatError, LohaLayer, LokrLayer

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
    source: str = ""  # the layer's name in the file (for messages)
    mid: torch.Tensor | None = None  # LoCon Tucker core (rank, rank, kh, kw); down and up are then 1x1

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        return (self.alpha if self.alpha is not None else self.rank) / self.rank

    def delta_shape(self) -> tuple[int, ...]:
        if self.mid is not None:
            return (int(self.up.shape[0]), int(self.down.shape[1]), *(int(k) for k in self.mid.shape[2:]))
        return (int(self.up.shape[0]), self.down[0].numel())

    def problem(self) -> str | None:
        """Why up @ down is not a weight delta this code can make, or None."""
        if self.up.ndim == 4 and tuple(self.up.shape[2:]) != (1, 1):
            return f"up kernel {tuple(self.up.shape)} (only 1x1 up projections are supported)"
        if self.up.ndim < 2 or self.down.ndim < 2 or self.up.shape[1] != self.down.shape[0]:
            return f"rank disagrees: up {tuple(self.up.shape)}, down {tuple(self.down.shape)}"
        if self.mid is not None and (
            self.mid.ndim != 4 or tuple(self.mid.shape[:2]) != (self.up.shape[1], self.down.shape[0]) or self.down[0].numel() != self.down.shape[1]
        ):
            return f"lora_mid {tuple(self.mid.shape)} does not fit up {tuple(self.up.shape)} and a 1x1 down {tuple(self.down.shape)}"
        return None

    def delta(self, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
        """alpha/rank * up @ down on flattened kernels, reshaped to ``shape``.

        With a Tucker ``mid`` (LyCORIS LoCon ``use_tucker``; neither diffusers nor PEFT reads it),
        LyCORIS' ``tucker_weight_from_conv``: ``einsum('m n k l, i m, n j -> i j k l', mid, up, down)``.
        """
        up = self.up.flatten(1).to(dtype)  # (out, rank)
        down = self.down.flatten(1).to(dtype)  # (rank, in * kh * kw)
        if self.mid is not None:
            return self.scale * torch.einsum("m n k l, i m, n j -> i j k l", self.mid.to(dtype), up, down).reshape(shape)
        return self.scale * (up @ down).reshape(shape)


Layer = LoraLayer | LohaLayer | LokrLayer


@dataclass
class LoraFile:
    path: Path
    layers: list[Layer]
    weight: float = 1.0


def parse_lora(
    state: Mapping[str, torch.Tensor], path: str | Path, weight: float = 1.0, *, layers_per_block: int = SD15_LAYERS_PER_BLOCK,
    ignore_alpha: bool = False,
) -> LoraFile:
    """Recognise the format and group the tensors into layers; raise for anything else.

    ``layers_per_block`` (the UNet config's) places original-SD-named blocks (input_blocks_4 ...).
    ``ignore_alpha``: every layer's scale is 1 (ΔW = up @ down), as the Live2Diff authors'
    ``convert_lora_model_level`` merges ("as we have set the alpha beforehand, so just skip").
    """
    path = Path(path)
    keys = list(state)
    if any(k.startswith(("lora_te1_", "lora_te2_")) for k in keys):
        raise IncompatibleCheckpointError(f"{path}: an SDXL LoRA (two text encoders, lora_te1_/lora_te2_); Live2Diff runs on SD1.5")
    if any(k.startswith(tuple(_KOHYA)) for k in keys):
        layers = _parse_kohya(state, path, layers_per_block)
    elif any(re.search(r"\.(hada_|lokr_)", k) for k in keys):
        raise IncompatibleCheckpointError(
            f"{path}: LoHa/LoKr tensors under names other than kohya's lora_unet_*/lora_te_* "
            f"(e.g. a PEFT LoHa/LoKr adapter): not supported, got {preview(keys[:6])}"
        )
    elif any(k.endswith(tuple(_PEFT_SUFFIXES)) for k in keys):
        layers = _parse_peft(state, path)
    else:
        raise IncompatibleCheckpointError(
            f"{path}: not a LoRA file: expected kohya keys (lora_unet_*/lora_te_*) or diffusers/PEFT keys "
            f"(*.lora_A.weight / *.lora_B.weight), got {preview(keys[:6])}"
        )
    if ignore_alpha:
        layers = [dataclasses.replace(layer, alpha=None) for layer in layers]
    return LoraFile(path, layers, weight)


_LORA_PARTS = ("lora_down.weight", "lora_up.weight", "lora_mid.weight")
_KOHYA_PARTS = frozenset((*_LORA_PARTS, "alpha", *LOHA_PARTS, *LOKR_PARTS))
_REFUSED_PARTS = {"dora_scale": "a DoRA layer (dora_scale): not supported"}


def _parse_kohya(state: Mapping[str, torch.Tensor], path: Path, layers_per_block: int) -> list[Layer]:
    # 1. group by layer: "<prefix><name>.<part>"
    groups: dict[str, dict[str, torch.Tensor]] = {}
    unknown, refused = [], []
    for key, tensor in state.items():
        name, _, part = key.partition(".")
        if part in _REFUSED_PARTS and name.startswith(tuple(_KOHYA)):
            refused.append(f"{key}: {_REFUSED_PARTS[part]}")
        elif not name.startswith(tuple(_KOHYA)) or part not in _KOHYA_PARTS:
            unknown.append(key)
        else:
            groups.setdefault(name, {})[part] = tensor
    if refused:
        raise IncompatibleCheckpointError(f"{path}: {len(refused)} layers of a kind not supported: {refused[:4]}")
    if unknown:
        raise IncompatibleCheckpointError(
            f"{path}: unexpected keys in a kohya/LyCORIS LoRA (expected <lora_unet_|lora_te_>NAME.<part> with part one of "
            f"{sorted(_KOHYA_PARTS)}): {preview(unknown)}"
        )
    # 2. original SD block names -> diffusers names (kohya underscore form)
    unet = [n.removeprefix("lora_unet_") for n in groups if n.startswith("lora_unet_")]
    renamed: dict[str, str] = {}
    if any(is_sgm(n) for n in unet):
        try:
            renamed = map_sgm_names(unet, layers_per_block)
        except SgmNameError as exc:
            raise IncompatibleCheckpointError(f"{path}: {exc}") from None
    # 3. one layer per group, by the parts it has
    layers: list[Layer] = []
    bad = []
    for name, parts in groups.items():
        prefix = next(p for p in _KOHYA if name.startswith(p))
        module = name.removeprefix(prefix)
        module = renamed.get(module, module) if prefix == "lora_unet_" else module
        try:
            alpha = _alpha(parts.pop("alpha")) if "alpha" in parts else None
            layers.append(_kohya_layer(_KOHYA[prefix], module, parts, alpha, name))
        except LayerFormatError as exc:
            bad.append(f"{name}: {exc}")
    if bad:
        raise IncompatibleCheckpointError(f"{path}: {len(bad)} layers are incomplete or inconsistent: {bad[:6]}")
    return layers


def _alpha(t: torch.Tensor) -> float:
    if t.numel() != 1:
        raise LayerFormatError(f"alpha should be one number, got a tensor of shape {tuple(t.shape)}")
    return float(t.reshape(()))


def _kohya_layer(target: str, module: str, parts: dict[str, torch.Tensor], alpha: float | None, source: str) -> Layer:
    kinds = [kind for kind, names in (("LoRA", _LORA_PARTS), ("LoHa", LOHA_PARTS), ("LoKr", LOKR_PARTS)) if set(parts) & set(names)]
    if len(kinds) != 1:
        raise LayerFormatError(f"expected the tensors of one of LoRA / LoHa / LoKr, got {sorted(parts) or 'only alpha'}")
    if kinds[0] == "LoHa":
        return LohaLayer.from_parts(target, module, parts, alpha, source)
    if kinds[0] == "LoKr":
        return LokrLayer.from_parts(target, module, parts, alpha, source)
    if not all(p in parts for p in _LORA_PARTS[:2]):
        raise LayerFormatError("lacks lora_down or lora_up")
    layer = LoraLayer(target, module, parts["lora_down.weight"], parts["lora_up.weight"], alpha, source, parts.get("lora_mid.weight"))
    if problem := layer.problem():
        raise LayerFormatError(problem)
    return layer


def _peft_alphas(path: Path) -> tuple[float | None, dict[str, float]]:
    """lora_alpha (and alpha_pattern) from a PEFT adapter_config.json next to the file, when there is one."""
    config = path.with_name("adapter_config.json")
    if not config.is_file():
        return None, {}
    data = json.loads(config.read_text(encoding="utf-8"))
    alpha = data.get("lora_alpha")
    return (float(alpha) if alpha is not None else None), {k: float(v) for k, v in (data.get("alpha_pattern") or {}).items()}


def _parse_peft(state: Mapping[str, torch.Tensor], path: Path) -> list[Layer]:
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
    layers: list[Layer] = []
    for (target, module), parts in groups.items():
        if "down" not in parts or "up" not in parts:
            raise IncompatibleCheckpointError(f"{path}: layer {module} lacks lora_A or lora_B")
        module = module.replace(".processor.", ".").replace("_lora", "")  # old diffusers attn-processor names
        alpha = float(parts["alpha"]) if "alpha" in parts else alpha_pattern.get(module, default_alpha)
        layers.append(LoraLayer(target, module, parts["down"], parts["up"], alpha, module))
    return layers


@dataclass
class PlannedLayer:
    target: str
    key: str  # the weight key in weights[target]
    layer: Layer


def plan_merge(loras: Sequence[LoraFile], weights: Mapping[str, Mapping[str, torch.Tensor]]) -> list[list[PlannedLayer]]:
    """Match every layer to a weight of ``weights[target]`` and check its shape; raise before any change.

    Returns one plan per LoRA, in order.
    """
    lookup = {t: {k.removesuffix(".weight").replace(".", "_"): k for k in w if k.endswith(".weight")} for t, w in weights.items()}
    plans = []
    for lora in loras:
        plan, unmatched, wrong = [], [], []
        for layer in lora.layers:
            table = weights.get(layer.target)
            key = None if table is None else _find_weight(layer.module, table, lookup[layer.target])
            if table is None or key is None:
                unmatched.append(f"{layer.target}:{layer.source or layer.module}")
                continue
            expected = tuple(table[key].shape)
            problem = layer.problem() if isinstance(layer, LoraLayer) else None
            got = layer.delta_shape() if problem is None else ()
            if problem is not None:
                wrong.append(f"{layer.source or layer.module}: {problem}")
            elif got[0] != expected[0] or math.prod(got) != math.prod(expected):
                wrong.append(f"{layer.source or layer.module} -> {key}: model weight {expected}, {type(layer).__name__} delta {got}")
            else:
                plan.append(PlannedLayer(layer.target, key, layer))
        if unmatched or wrong:
            lines = [f"{lora.path}: this LoRA does not fit the model (a LoRA for another base model, e.g. SDXL or SD2?):"]
            if unmatched:
                lines.append(f"  {len(unmatched)} layers name no layer of the model: {preview(unmatched)}")
            if wrong:
                lines.append(f"  {len(wrong)} shape mismatches: {wrong[:6]}")
            raise IncompatibleCheckpointError("\n".join(lines))
        plans.append(plan)
    return plans


def _find_weight(module: str, table: Mapping[str, torch.Tensor], underscored: Mapping[str, str]) -> str | None:
    """The weight key a LoRA layer names: dotted or kohya-underscored, with or without CLIP's
    ``text_model.`` prefix (transformers 5 dropped it from CLIPTextModel's own keys)."""
    for name in (module, module.removeprefix("text_model."), module.removeprefix("text_model_"), "text_model." + module):
        if f"{name}.weight" in table:
            return f"{name}.weight"
        if name in underscored:
            return underscored[name]
    return None


def delta_dtype(weight: torch.Tensor) -> torch.dtype:
    """Deltas are computed in float32, or float64 for float64 weights."""
    return torch.promote_types(weight.dtype, torch.float32)


def lora_deltas(lora: LoraFile, weights: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
    """{target: {weight key: ΔW}} of one LoRA, alpha/rank applied, the user weight not (merge = W + weight * ΔW).

    Checked against ``weights`` first (IncompatibleCheckpointError naming the file and layers);
    two layers of one file naming the same weight add up.
    """
    (plan,) = plan_merge([lora], weights)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for step in plan:
        w = weights[step.target][step.key]
        delta = step.layer.delta(w.shape, delta_dtype(w))
        table = out.setdefault(step.target, {})
        table[step.key] = table[step.key] + delta if step.key in table else delta
    return out


def merge_loras(loras: Sequence[LoraFile], weights: dict[str, StateDict]) -> dict[str, StateDict]:
    """Merge in order into ``weights`` (its dict entries are replaced, no tensor is written in place,
    so tensors shared with a model already running stay untouched). Returns ``weights``."""
    return merge_planned(loras, plan_merge(loras, weights), weights)


def merge_planned(loras: Sequence[LoraFile], plans: Sequence[Sequence[PlannedLayer]], weights: dict[str, StateDict]) -> dict[str, StateDict]:
    """``merge_loras`` on plans already made (and so checked) by ``plan_merge``."""
    for lora, plan in zip(loras, plans, strict=True):
        for step in plan:
            weights[step.target][step.key] = merge_step(weights[step.target][step.key], step.layer, lora.weight)
        logger.info("merged LoRA %s (%d layers, weight %.2f)", lora.path, len(lora.layers), lora.weight)
    return weights


def merge_step(w: torch.Tensor, layer: Layer, weight: float) -> torch.Tensor:
    """``w + weight * ΔW`` in float32 (float64 for float64 weights), back in ``w``'s dtype: the one
    arithmetic of a merge, at load and when a live fader moves (engine/lora_faders.py)."""
    delta = layer.delta(w.shape, delta_dtype(w))
    return (w.to(delta.dtype) + weight * delta).to(w.dtype)
