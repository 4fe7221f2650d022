"""The official checkpoint layout: mapped, every key accounted for, v2/v3 refused, converted once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from live2diff_broadcast.cli import main
from live2diff_broadcast.weights.denoiser import expected_unet_shapes
from live2diff_broadcast.weights.errors import IncompatibleCheckpointError, KeyMismatchError
from live2diff_broadcast.weights.files import read_safetensors_metadata
from live2diff_broadcast.weights.live2diff_ckpt import (
    FORMAT,
    convert_live2diff_state_dict,
    expected_motion_shapes,
    load_live2diff_weights,
    motion_adapter_config,
)
from tests.weights import zoo
from tests.weights.conftest import Zoo

SHAPES = expected_motion_shapes(motion_adapter_config(zoo.TINY_UNET, 2))


def test_mapping_matches_the_motion_modules_exactly(model_zoo: Zoo) -> None:
    got = load_live2diff_weights(model_zoo.live2diff, SHAPES)
    want = {k: v for k, v in zoo.motion_state(model_zoo.components).items() if not k.endswith(".pe")}
    assert set(got.motion) == set(want) and all(torch.equal(got.motion[k], want[k]) for k in want)
    depth = model_zoo.components.unet.depth_adapter.state_dict()
    assert all(torch.equal(got.depth[k], depth[k]) for k in depth) and set(got.depth) == set(depth)


def test_missing_and_unexpected_keys_are_listed(model_zoo: Zoo) -> None:
    state = zoo.live2diff_ckpt_state(model_zoo.components)
    victim = next(k for k in state if k.endswith("proj_out.weight"))
    del state[victim]
    state["module.down_blocks.0.motion_modules.0.temporal_transformer.mystery.weight"] = torch.zeros(1)
    with pytest.raises(KeyMismatchError) as err:
        convert_live2diff_state_dict(state, "live2diff.ckpt", SHAPES)
    text = str(err.value)
    assert "live2diff.ckpt" in text and "missing 1" in text and "proj_out.weight" in text and "mystery" in text


def test_animatediff_v2_v3_refused(model_zoo: Zoo) -> None:
    long_pe = zoo.live2diff_ckpt_state(model_zoo.components, pe_length=32)
    with pytest.raises(IncompatibleCheckpointError, match="length 32.*v2/v3"):
        convert_live2diff_state_dict(long_pe, "mm_sd_v15_v2.ckpt", SHAPES)
    mid = zoo.live2diff_ckpt_state(model_zoo.components)
    mid["mid_block.motion_modules.0.temporal_transformer.norm.weight"] = torch.zeros(64)
    with pytest.raises(IncompatibleCheckpointError, match="mid-block"):
        convert_live2diff_state_dict(mid, "v3_sd15_mm.ckpt", SHAPES)


def test_spatial_weights_are_reported_and_kept_apart(model_zoo: Zoo) -> None:
    state = zoo.live2diff_ckpt_state(model_zoo.components)
    state["module.conv_in.weight"] = torch.zeros(32, 4, 3, 3)
    got = convert_live2diff_state_dict(state, "x.ckpt", SHAPES, expected_unet_shapes(zoo.TINY_UNET))
    assert list(got.spatial) == ["conv_in.weight"]
    with pytest.raises(KeyMismatchError, match="neither motion"):  # without the UNet's key list: unknown
        convert_live2diff_state_dict(state, "x.ckpt", SHAPES)


def test_convert_command_writes_safetensors_that_load_identically(model_zoo: Zoo, tmp_path: Path) -> None:
    config = zoo.write_json(dict(zoo.TINY_UNET), tmp_path / "config.json")
    out = tmp_path / "live2diff.safetensors"
    assert main(["convert", "live2diff", str(model_zoo.live2diff), str(out), "--unet-config", str(config)]) == 0
    assert read_safetensors_metadata(out)["format"] == FORMAT
    a, b = load_live2diff_weights(model_zoo.live2diff, SHAPES), load_live2diff_weights(out, SHAPES)
    assert all(torch.equal(a.motion[k], b.motion[k]) for k in a.motion) and set(a.motion) == set(b.motion)
    assert all(torch.equal(a.depth[k], b.depth[k]) for k in a.depth)
