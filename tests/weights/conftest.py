"""A tiny model zoo on disk, every component in its real layout, written once per session."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from live2diff_broadcast.config import ModelsSection
from live2diff_broadcast.engine.components import Live2DiffComponents, tiny_components
from live2diff_broadcast.weights.loader import LoadOptions
from live2diff_broadcast.weights.store import ModelStore
from tests.weights import zoo

TINY_OPTIONS = LoadOptions(motion_num_attention_heads=2)


@dataclass
class Zoo:
    root: Path
    components: Live2DiffComponents  # the directly constructed tiny model: the reference
    base: Path
    vae: Path
    depth: Path
    live2diff: Path
    lcm_lora: Path

    def models(self, **overrides: object) -> ModelsSection:
        fields = dict(
            preset="live2diff", base=str(self.base), vae=str(self.vae), depth=str(self.depth),
            live2diff=str(self.live2diff), lcm_lora=str(self.lcm_lora), auto_download=False,
        )
        fields.update(overrides)
        return ModelsSection(**fields)

    def store(self) -> ModelStore:
        return ModelStore(cache_dir=self.root / "empty-hf-cache", offline=True)


@pytest.fixture(scope="session")
def model_zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    root = tmp_path_factory.mktemp("zoo")
    c = tiny_components(seed=0)
    base = zoo.write_base(c, root / "sd15")
    c.vae.save_pretrained(root / "taesd")
    c.depth.model.save_pretrained(root / "dpt")
    live2diff = zoo.write_live2diff_ckpt(c, root / "live2diff.ckpt")
    # An LCM-LoRA whose up weights are zero: merging it must change nothing (so the reference holds).
    lcm = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.randn(4, 32, 1, 1),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(32, 4, 1, 1),
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": torch.tensor(2.0),
    }
    lcm_lora = zoo.write_safetensors(lcm, root / "lcm_lora.safetensors")
    return Zoo(root, c, base, root / "taesd", root / "dpt", live2diff, lcm_lora)


@pytest.fixture
def reference(model_zoo: Zoo) -> Live2DiffComponents:
    return copy.deepcopy(model_zoo.components)
