"""Live LoRA faders: a style LoRA's weight changed while the show runs, with no reload.

Each style LoRA is merged at load as ``W + weight * ΔW`` (lora.py). ``LoraFaders`` keeps what a
new weight needs: every faded layer's factors (small) and, for each weight those LoRAs touch, the
weight as it was before them ("base": the checkpoint, LCM-LoRA merged). Moving a fader recomputes
each touched weight from its base, LoRA by LoRA in profile order, with the very arithmetic of the
load (``merge_step``), and copies it into the running parameter in place. So a weight set live
equals a fresh load at that weight bit for bit, no error builds up however often a fader moves,
and parameter addresses never change (torch.compile graphs and CUDA graphs stay valid).

Why not PEFT adapter scales: an unmerged adapter costs two extra matmuls per layer on every
frame, and the exported ONNX / TensorRT graphs take plain weights. A merge costs nothing per frame.

Cost: the factors on the device, and the touched base weights, copied to the device the first
time a fader moves (in the dtype they were loaded in). ``move`` only records the weight; ``apply``
(once, before the next frame) does the work, so a fader sending 60 messages a second between two
frames costs one recompute.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .lora import Layer, LoraFile, PlannedLayer, merge_step

logger = logging.getLogger(__name__)


def fader_index(names: list[str], name: str) -> int | None:
    """Which of the LoRA faders ``names`` a command's ``name`` means: its name, else its position
    (0, 1, ...); None when neither. The one rule for the control stage and the faders."""
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    return None


@dataclass
class FadedLora:
    """One style LoRA under a fader: its name, live weight and merge plan (layers in merge order)."""

    name: str
    weight: float
    plan: list[PlannedLayer]


class LoraFaders:
    """The style LoRAs of one set of models, each with a live weight in [0, 1]."""

    def __init__(self, loras: Sequence[FadedLora], base: Mapping[tuple[str, str], torch.Tensor], modules: Mapping[str, nn.Module]) -> None:
        self.loras = list(loras)
        self.base = dict(base)  # (target, weight key) -> the weight before the style LoRAs
        self.modules = dict(modules)  # target ("unet" | "text_encoder") -> the module holding its weights
        self._steps: dict[tuple[str, str], list[tuple[int, PlannedLayer]]] = {}  # weight -> its merges, in load order
        for i, lora in enumerate(self.loras):
            for step in lora.plan:
                self._steps.setdefault((step.target, step.key), []).append((i, step))
        self._pending: dict[int, float] = {}
        self._on_device: dict[tuple[torch.device, int, int], Layer] = {}
        self._base_on_device: dict[tuple[str, str], torch.Tensor] = {}

    @property
    def names(self) -> list[str]:
        return [lora.name for lora in self.loras]

    @property
    def weights(self) -> dict[str, float]:
        """Every fader's weight, pending moves included."""
        return {lora.name: self._pending.get(i, lora.weight) for i, lora in enumerate(self.loras)}

    def index(self, name: str) -> int:
        """The LoRA ``name`` (its name, or its position in the list as a number); KeyError listing the names."""
        index = fader_index(self.names, name)
        if index is not None:
            return index
        listed = ", ".join(f"{i}: {n}" for i, n in enumerate(self.names)) or "none"
        raise KeyError(f"no LoRA fader named {name!r}; the models on air have: {listed}")

    def move(self, name: str, weight: float) -> None:
        """Record a new weight (applied by ``apply``); KeyError for an unknown name, ValueError outside [0, 1]."""
        if not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
            raise ValueError(f"LoRA weight must be a number in [0, 1], got {weight!r}")
        self._pending[self.index(name)] = float(weight)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    @torch.no_grad()
    def apply(self) -> set[str]:
        """Recompute every weight the moved LoRAs touch and write it in place; returns the targets changed."""
        moved = {i: w for i, w in self._pending.items() if w != self.loras[i].weight}
        self._pending.clear()
        if not moved:
            return set()
        for i, weight in moved.items():
            self.loras[i].weight = weight
        keys = {(step.target, step.key) for i in moved for step in self.loras[i].plan}
        for target, key in sorted(keys):
            param = self.modules[target].get_parameter(key)
            w = self._base(target, key, param.device)
            for j, step in self._steps[(target, key)]:
                w = merge_step(w, self._layer(j, step, param.device), self.loras[j].weight)
            param.copy_(w)
        logger.info("engine: LoRA %s (%d weights recomputed)",
                    ", ".join(f"{self.loras[i].name} -> {w:.2f}" for i, w in moved.items()), len(keys))
        return {target for target, _ in keys}

    def _base(self, target: str, key: str, device: torch.device) -> torch.Tensor:
        base = self._base_on_device.get((target, key))
        if base is None or base.device != device:
            base = self._base_on_device[(target, key)] = self.base[(target, key)].to(device)
        return base

    def _layer(self, lora: int, step: PlannedLayer, device: torch.device) -> Layer:
        slot = (device, lora, id(step))
        layer = self._on_device.get(slot)
        if layer is None:
            layer = self._on_device[slot] = _to_device(step.layer, device)
        return layer


def _to_device(layer: Layer, device: torch.device) -> Layer:
    """The layer with its tensors on ``device`` (same dtype)."""
    moved = {f.name: getattr(layer, f.name).to(device) for f in dataclasses.fields(layer) if isinstance(getattr(layer, f.name), torch.Tensor)}
    return dataclasses.replace(layer, **moved)


def faders_for(
    loras: Sequence[LoraFile], names: Sequence[str], plans: Sequence[Sequence[PlannedLayer]],
    weights: Mapping[str, Mapping[str, torch.Tensor]],
) -> tuple[list[FadedLora], dict[tuple[str, str], torch.Tensor]]:
    """The faders of ``loras`` (planned, not yet merged into ``weights``) and the base weights they need.

    Call before the merge: ``weights`` must still hold the weights as they are without these LoRAs.
    """
    faded = [FadedLora(name, lora.weight, list(plan)) for name, lora, plan in zip(names, loras, plans, strict=True)]
    base = {(step.target, step.key): weights[step.target][step.key] for lora in faded for step in lora.plan}
    return faded, base
