"""The trained weights go out in live2diff.ckpt's layout and come back through the engine's loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from live2diff_broadcast.engine.components import Live2DiffComponents, tiny_components
from live2diff_broadcast.training.checkpoint_io import (
    export_live2diff,
    live2diff_ckpt_state,
    load_animatediff_motion,
    motion_state,
)
from live2diff_broadcast.weights.errors import KeyMismatchError
from live2diff_broadcast.weights.live2diff_ckpt import (
    expected_motion_shapes,
    load_live2diff_weights,
    motion_adapter_config,
)

from ..weights.zoo import TINY_UNET
from ..weights.zoo import live2diff_ckpt_state as zoo_state


def _motion_shapes() -> dict[str, torch.Size]:
    return expected_motion_shapes(motion_adapter_config(TINY_UNET, num_attention_heads=2))


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_export_loads_back_through_the_engine_loader_exactly(tiny: Live2DiffComponents, tmp_path: Path, suffix: str) -> None:
    with torch.no_grad():
        for p in tiny.unet.parameters():
            p.add_(torch.randn_like(p))  # "trained" weights, different from any init
    path = export_live2diff(tiny.unet, tiny.unet.depth_adapter, tmp_path / f"live2diff{suffix}")
    loaded = load_live2diff_weights(path, _motion_shapes())  # the same call that loads the published file
    ours = motion_state(tiny.unet)
    assert loaded.motion.keys() == ours.keys()
    assert all(torch.equal(loaded.motion[k], ours[k]) for k in ours)
    depth = tiny.unet.depth_adapter.state_dict()
    assert loaded.depth.keys() == depth.keys() and all(torch.equal(loaded.depth[k], depth[k]) for k in depth)


def test_key_layout_is_the_official_one(tiny: Live2DiffComponents) -> None:
    official = {k.removeprefix("module.") for k in zoo_state(tiny) if "grid" not in k}
    assert set(live2diff_ckpt_state(tiny.unet, tiny.unet.depth_adapter)) == official


def test_motion_init_from_an_animatediff_file(tiny: Live2DiffComponents, tmp_path: Path) -> None:
    source = tiny_components(seed=5)
    path = tmp_path / "mm.ckpt"
    torch.save({"state_dict": {k: v for k, v in zoo_state(source).items() if "flow_conv_in" not in k}}, path)
    assert load_animatediff_motion(tiny.unet, path) == len(motion_state(source.unet))
    want, got = motion_state(source.unet), motion_state(tiny.unet)
    assert all(torch.equal(want[k], got[k]) for k in want)
    bad = tmp_path / "bad.ckpt"
    torch.save({k: v for i, (k, v) in enumerate(zoo_state(source).items()) if i != 3 and "motion" in k}, bad)
    with pytest.raises(KeyMismatchError, match="bad.ckpt"):
        load_animatediff_motion(tiny.unet, bad)
