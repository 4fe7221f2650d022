"""LoRA merges: W + weight * alpha/rank * up @ down, kohya and PEFT, linear and conv, checked first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from live2diff_broadcast.weights.errors import IncompatibleCheckpointError
from live2diff_broadcast.weights.lora import merge_loras, parse_lora


def _weights() -> dict[str, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return {
        "unet": {
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight": torch.randn(32, 32, generator=g),
            "conv_in.weight": torch.randn(32, 4, 3, 3, generator=g),
            "down_blocks.0.attentions.0.proj_in.weight": torch.randn(32, 32, 1, 1, generator=g),
        },
        "text_encoder": {"encoder.layers.0.mlp.fc1.weight": torch.randn(37, 32, generator=g)},
    }


def test_kohya_alpha_not_equal_rank_linear_conv_and_text_encoder() -> None:
    w = _weights()
    original = {t: {k: v.clone() for k, v in d.items()} for t, d in w.items()}
    q_down, q_up = torch.randn(4, 32), torch.randn(32, 4)
    c_down, c_up = torch.randn(2, 4, 3, 3), torch.randn(32, 2, 1, 1)
    p_down, p_up = torch.randn(4, 32, 1, 1), torch.randn(32, 4, 1, 1)
    t_down, t_up = torch.randn(8, 32), torch.randn(37, 8)
    state = {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": q_down,
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": q_up,
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.alpha": torch.tensor(1.0),
        "lora_unet_conv_in.lora_down.weight": c_down,
        "lora_unet_conv_in.lora_up.weight": c_up,
        "lora_unet_conv_in.alpha": torch.tensor(8.0),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": p_down,
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": p_up,
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": t_down,
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": t_up,
        "lora_te_text_model_encoder_layers_0_mlp_fc1.alpha": torch.tensor(4.0),
    }
    scale = 0.8
    merged = merge_loras([parse_lora(state, "style.safetensors", scale)], w)
    u, t = original["unet"], original["text_encoder"]
    q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    assert torch.equal(merged["unet"][q], u[q] + (scale * (1.0 / 4)) * (q_up @ q_down))
    conv = (c_up.flatten(1) @ c_down.flatten(1)).reshape(32, 4, 3, 3)
    assert torch.equal(merged["unet"]["conv_in.weight"], u["conv_in.weight"] + (scale * (8.0 / 2)) * conv)
    p = "down_blocks.0.attentions.0.proj_in.weight"  # no alpha key: alpha = rank
    assert torch.equal(merged["unet"][p], u[p] + (scale * (4 / 4)) * (p_up.flatten(1) @ p_down.flatten(1)).reshape(32, 32, 1, 1))
    f = "encoder.layers.0.mlp.fc1.weight"
    assert torch.equal(merged["text_encoder"][f], t[f] + (scale * (4.0 / 8)) * (t_up @ t_down))


def test_peft_format_with_adapter_config_and_several_loras(tmp_path: Path) -> None:
    w = _weights()
    q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    w0 = w["unet"][q].clone()
    a, b = torch.randn(4, 32), torch.randn(32, 4)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"lora_alpha": 16, "r": 4}))
    peft = {f"unet.{q.removesuffix('.weight')}.lora_A.weight": a, f"unet.{q.removesuffix('.weight')}.lora_B.weight": b}
    a2, b2 = torch.randn(2, 32), torch.randn(32, 2)
    kohya = {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": a2,
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": b2,
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.alpha": torch.tensor(1.0),
    }
    loras = [parse_lora(peft, tmp_path / "adapter_model.safetensors", 1.0), parse_lora(kohya, "k.safetensors", 0.5)]
    merged = merge_loras(loras, w)
    step1 = w0 + (1.0 * (16 / 4)) * (b @ a)
    assert torch.equal(merged["unet"][q], step1 + (0.5 * (1.0 / 2)) * (b2 @ a2))


def test_lora_for_another_base_changes_nothing() -> None:
    w = _weights()
    before = {k: v.clone() for k, v in w["unet"].items()}
    good = {"lora_unet_conv_in.lora_down.weight": torch.randn(2, 4, 3, 3), "lora_unet_conv_in.lora_up.weight": torch.randn(32, 2, 1, 1)}
    sdxl = {  # to_q of an SDXL block: 640 wide
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": torch.randn(4, 640),
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": torch.randn(640, 4),
    }
    with pytest.raises(IncompatibleCheckpointError, match="sdxl_style.safetensors.*another base"):
        merge_loras([parse_lora(good, "good.safetensors"), parse_lora(sdxl, "sdxl_style.safetensors")], w)
    assert all(torch.equal(w["unet"][k], before[k]) for k in before)
    with pytest.raises(IncompatibleCheckpointError, match="SDXL LoRA"):
        parse_lora({"lora_te1_text_model_x.lora_down.weight": torch.zeros(1)}, "xl.safetensors")
