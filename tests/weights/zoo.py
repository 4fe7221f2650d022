"""Writers of tiny checkpoints in the REAL on-disk layouts, made from the tiny components' tensors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.embeddings import SinusoidalPositionalEmbedding
from safetensors.torch import save_file

from live2diff_broadcast.engine.components import Live2DiffComponents

TINY_UNET = dict(
    sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
)


def spatial_state(c: Live2DiffComponents) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in c.unet.unet.state_dict().items() if ".motion_modules." not in k}


def motion_state(c: Live2DiffComponents) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in c.unet.unet.state_dict().items() if ".motion_modules." in k}


def write_base(c: Live2DiffComponents, root: Path) -> Path:
    """A diffusers-layout SD folder: unet/, text_encoder/, tokenizer/."""
    unet2d = UNet2DConditionModel(**TINY_UNET)
    unet2d.load_state_dict(spatial_state(c), strict=True)
    unet2d.save_pretrained(root / "unet")
    c.text_encoder.save_pretrained(root / "text_encoder")
    # SD1.5's own file says text_model.* and still carries the position_ids buffer
    text = {"text_model." + k.removeprefix("text_model."): v.clone() for k, v in c.text_encoder.state_dict().items()}
    text["text_model.embeddings.position_ids"] = torch.arange(16)[None]
    save_file(text, str(root / "text_encoder" / "model.safetensors"))
    c.tokenizer.save_pretrained(root / "tokenizer")
    return root


def to_animatediff(key: str) -> str:
    """diffusers MotionAdapter name -> AnimateDiff-v1 original name (the inverse mapping, written out)."""
    block, rest = key.split(".motion_modules.", 1)
    index, rest = rest.split(".", 1)
    rest = (
        rest.replace("transformer_blocks.0.attn1.", "transformer_blocks.0.attention_blocks.0.")
        .replace("transformer_blocks.0.attn2.", "transformer_blocks.0.attention_blocks.1.")
        .replace("transformer_blocks.0.norm1.", "transformer_blocks.0.norms.0.")
        .replace("transformer_blocks.0.norm2.", "transformer_blocks.0.norms.1.")
        .replace("transformer_blocks.0.norm3.", "transformer_blocks.0.ff_norm.")
    )
    return f"{block}.motion_modules.{index}.temporal_transformer.{rest}"


def live2diff_ckpt_state(c: Live2DiffComponents, pe_length: int = 24) -> dict[str, torch.Tensor]:
    """The official checkpoint's layout: module.-prefixed AnimateDiff names, pos_encoder.pe (each
    attention block's own copy of the sinusoid, as AnimateDiff saves it), flow_conv_in."""
    state: dict[str, torch.Tensor] = {}
    for key, value in motion_state(c).items():
        if key.endswith("pos_embed.pe"):
            prefix = to_animatediff(key.replace("pos_embed.pe", "attn1.x")).rsplit(".attention_blocks.0.", 1)[0]
            width = value.shape[-1]
            table = SinusoidalPositionalEmbedding(width, pe_length).pe
            for i in (0, 1):
                state[f"module.{prefix}.attention_blocks.{i}.pos_encoder.pe"] = table.clone()
            continue
        state["module." + to_animatediff(key)] = value
    for key, value in c.unet.depth_adapter.state_dict().items():
        state[f"module.flow_conv_in.{key}"] = value.clone()
    state["module.some_grid"] = torch.zeros(2, 2)
    return state


def write_live2diff_ckpt(c: Live2DiffComponents, path: Path, **kw: int) -> Path:
    torch.save({"state_dict": live2diff_ckpt_state(c, **kw), "epoch": 3}, path)
    return path


def to_ldm_unet(key: str, layers: int = 1) -> str:
    """diffusers UNet2D name -> LDM (original SD) name, for the tiny layout."""
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for old, new in fixed.items():
        if key.startswith(old + "."):
            return new + key[len(old):]
    res = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}

    def resnet(rest: str) -> str:
        name, _, tail = rest.partition(".")
        return f"{res[name]}.{tail}"

    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = 1 + i * (layers + 1) + j
        return f"input_blocks.{idx}.0.{resnet(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$", key):
        return f"input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d)\.(.+)$", key):
        return f"middle_block.{2 * int(m[1])}.{resnet(m[2])}"
    if m := re.match(r"mid_block\.attentions\.0\.(.+)$", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = i * (layers + 1) + j
        return f"output_blocks.{idx}.0.{resnet(rest)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$", key):
        i = int(m[1])
        has_attn = i == 1  # tiny: up block 1 is the cross-attention one
        return f"output_blocks.{i * (layers + 1) + layers}.{2 if has_attn else 1}.conv.{m[2]}"
    raise KeyError(key)


def ldm_single_file_state(c: Live2DiffComponents) -> dict[str, torch.Tensor]:
    state = {"model.diffusion_model." + to_ldm_unet(k): v for k, v in spatial_state(c).items()}
    for k, v in c.text_encoder.state_dict().items():
        state["cond_stage_model.transformer.text_model." + k.removeprefix("text_model.")] = v.clone()
    state["first_stage_model.encoder.conv_in.weight"] = torch.randn(8, 3, 3, 3)  # a (KL) VAE, unused
    state["alphas_cumprod"] = torch.rand(1000)
    return state


def write_safetensors(state: dict[str, torch.Tensor], path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def write_json(data: dict, path: Path) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
