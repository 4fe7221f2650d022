"""MiDaS' original DPT-Hybrid layout converts to transformers' DPT with identical outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from live2diff_broadcast.cli import main
from live2diff_broadcast.weights.errors import KeyMismatchError
from live2diff_broadcast.weights.midas import dpt_from_state_dict
from tests.weights.conftest import Zoo


def to_midas(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers DPT-Hybrid keys -> the original MiDaS v3 keys (the inverse, written out)."""
    out: dict[str, torch.Tensor] = {}
    vit, bit = "pretrained.model.", "pretrained.model.patch_embed.backbone."
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for k, v in state.items():
        parts = k.split(".")
        if k.startswith("dpt.encoder.layer."):
            i, rest = parts[3], ".".join(parts[4:])
            if rest.startswith("attention.attention."):
                qkv.setdefault((i, parts[-1]), {})[parts[-2]] = v
                continue
            rest = (rest.replace("layernorm_before", "norm1").replace("layernorm_after", "norm2")
                    .replace("attention.output.dense", "attn.proj").replace("intermediate.dense", "mlp.fc1")
                    .replace("output.dense", "mlp.fc2"))
            out[f"{vit}blocks.{i}.{rest}"] = v
        elif k.startswith("dpt.embeddings.backbone.bit.embedder."):
            out[bit + "stem." + {"convolution": "conv", "norm": "norm"}[parts[5]] + "." + parts[-1]] = v
        elif k.startswith("dpt.embeddings.backbone.bit.encoder.stages."):
            out[f"{bit}stages.{parts[6]}.blocks.{parts[8]}." + ".".join(parts[9:])] = v
        elif k.startswith("dpt.embeddings."):
            name = {"cls_token": "cls_token", "position_embeddings": "pos_embed"}.get(parts[2])
            out[vit + (name if name else "patch_embed.proj." + parts[-1])] = v
        elif k.startswith("dpt.layernorm."):
            out[vit + "norm." + parts[-1]] = v
        elif k.startswith("neck.convs."):
            out[f"scratch.layer{int(parts[2]) + 1}_rn.weight"] = v
        elif k.startswith("neck.fusion_stage.layers."):
            n = 4 - int(parts[3])
            if parts[4] == "projection":
                out[f"scratch.refinenet{n}.out_conv.{parts[-1]}"] = v
            else:
                out[f"scratch.refinenet{n}.resConfUnit{parts[4][-1]}.conv{parts[5][-1]}.{parts[-1]}"] = v
        elif k.startswith("neck.reassemble_stage.readout_projects."):
            out[f"pretrained.act_postprocess{int(parts[3]) + 1}.0.project.0.{parts[-1]}"] = v
        elif k.startswith("neck.reassemble_stage.layers."):
            out[f"pretrained.act_postprocess{int(parts[3]) + 1}.{3 if parts[4] == 'projection' else 4}.{parts[-1]}"] = v
        elif k.startswith("head.head."):
            out[f"scratch.output_conv.{parts[2]}.{parts[-1]}"] = v
        else:
            raise KeyError(k)
    for (i, kind), d in qkv.items():
        out[f"{vit}blocks.{i}.attn.qkv.{kind}"] = torch.cat([d["query"], d["key"], d["value"]])
    out[vit + "head.weight"] = torch.zeros(10, 32)  # the classifier head: dropped
    return out


def test_original_midas_layout_gives_the_same_model(model_zoo: Zoo, tmp_path: Path) -> None:
    ref = model_zoo.components.depth.model
    path = tmp_path / "dpt_hybrid_384.pt"
    torch.save(to_midas({k: v.clone() for k, v in ref.state_dict().items()}), path)
    from live2diff_broadcast.weights.files import read_state_dict

    got = dpt_from_state_dict(read_state_dict(path), path, ref.config)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(got(pixel_values=x).predicted_depth, ref(pixel_values=x).predicted_depth)
    bad = to_midas(ref.state_dict())
    bad["scratch.extra.weight"] = torch.zeros(1)
    with pytest.raises(KeyMismatchError, match="scratch.extra"):
        dpt_from_state_dict(bad, path, ref.config)


def test_convert_pickle_command(tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "a.ckpt")
    assert main(["convert", "pickle", str(tmp_path / "a.ckpt"), str(tmp_path / "a.safetensors")]) == 0
    assert (tmp_path / "a.safetensors").is_file()
