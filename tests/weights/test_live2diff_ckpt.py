"""The official checkpoint layout: mapped, every key accounted for, v2/v3 refused, converted once."""

from __future__ import annotations

import logging
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


def _shifted_tables(state: dict[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Every block's two pos_encoder.pe tables moved off the sinusoid by the same (per block) amount."""
    g = torch.Generator().manual_seed(seed)
    shifts: dict[str, torch.Tensor] = {}
    for key in sorted(k for k in state if k.endswith(".pos_encoder.pe")):
        block = key.split(".attention_blocks.")[0]
        shift = shifts.setdefault(block, 0.01 * torch.randn(state[key].shape, generator=g))
        state[key] = state[key] + shift
    return state


def test_positional_tables_are_read_from_the_checkpoint(model_zoo: Zoo, caplog: pytest.LogCaptureFixture) -> None:
    plain = convert_live2diff_state_dict(zoo.live2diff_ckpt_state(model_zoo.components), "x.ckpt", SHAPES)
    own = {k: v for k, v in zoo.motion_state(model_zoo.components).items() if k.endswith(".pe")}
    assert set(plain.pe) == set(own) and all(torch.equal(plain.pe[k], own[k]) for k in own)
    assert "differ from the sinusoid" not in caplog.text  # the sinusoid itself: no warning
    state = _shifted_tables(zoo.live2diff_ckpt_state(model_zoo.components))
    with caplog.at_level(logging.WARNING):
        got = convert_live2diff_state_dict(state, "x.ckpt", SHAPES)
    assert f"{len(own)} of {len(own)} positional tables (pos_encoder.pe) differ from the sinusoid" in caplog.text
    key = "down_blocks.0.motion_modules.0.transformer_blocks.0.pos_embed.pe"
    want = state["module.down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"]
    assert torch.equal(got.pe[key], want)


def test_a_block_whose_attentions_carry_different_tables_is_refused(model_zoo: Zoo) -> None:
    state = zoo.live2diff_ckpt_state(model_zoo.components)
    victim = next(k for k in state if k.endswith("attention_blocks.1.pos_encoder.pe"))
    state[victim] = state[victim] + 1e-3
    with pytest.raises(IncompatibleCheckpointError, match="one positional table per motion block"):
        convert_live2diff_state_dict(state, "x.ckpt", SHAPES)


def test_converted_file_keeps_the_tables(model_zoo: Zoo, tmp_path: Path) -> None:
    state = _shifted_tables(zoo.live2diff_ckpt_state(model_zoo.components))
    ckpt = tmp_path / "shifted.ckpt"
    torch.save({"state_dict": state}, ckpt)
    out = tmp_path / "shifted.safetensors"
    config = zoo.write_json(dict(zoo.TINY_UNET), tmp_path / "config.json")
    assert main(["convert", "live2diff", str(ckpt), str(out), "--unet-config", str(config)]) == 0
    a, b = load_live2diff_weights(ckpt, SHAPES), load_live2diff_weights(out, SHAPES)
    assert set(a.pe) == set(b.pe) and a.pe and all(torch.equal(a.pe[k], b.pe[k]) for k in a.pe)
