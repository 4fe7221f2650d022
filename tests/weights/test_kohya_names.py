"""Original SD (LDM/sgm) block names in kohya LoRAs map onto the diffusers UNet's layers."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel

from live2diff_broadcast.weights.kohya_names import SgmNameError, map_sgm_names
from tests.weights import zoo


def test_every_linear_and_conv_of_the_tiny_unet_maps_back() -> None:
    unet = UNet2DConditionModel(**zoo.TINY_UNET)
    modules = [n for n, m in unet.named_modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)]
    # zoo.to_ldm_unet is the inverse mapping, written out independently
    ldm = {zoo.to_ldm_unet(f"{n}.weight").removesuffix(".weight").replace(".", "_"): n.replace(".", "_") for n in modules}
    assert len(ldm) == len(modules) == 83
    assert map_sgm_names(ldm, layers_per_block=1) == ldm


SD15 = {  # SD1.5: layers_per_block 2, 12 input and 12 output blocks
    "input_blocks_0_0": "conv_in",
    "input_blocks_1_1_transformer_blocks_0_attn1_to_q": "down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q",
    "input_blocks_3_0_op": "down_blocks_0_downsamplers_0_conv",
    "input_blocks_4_0_emb_layers_1": "down_blocks_1_resnets_0_time_emb_proj",
    "input_blocks_10_0_skip_connection": "down_blocks_3_resnets_0_conv_shortcut",
    "input_blocks_11_0_in_layers_2": "down_blocks_3_resnets_1_conv1",
    "middle_block_1_transformer_blocks_0_attn2_to_out_0": "mid_block_attentions_0_transformer_blocks_0_attn2_to_out_0",
    "middle_block_2_out_layers_3": "mid_block_resnets_1_conv2",
    "output_blocks_1_0_conv1": "up_blocks_0_resnets_1_conv1",
    "output_blocks_2_1_conv": "up_blocks_0_upsamplers_0_conv",  # up block without attention
    "output_blocks_5_2_conv": "up_blocks_1_upsamplers_0_conv",
    "output_blocks_11_1_proj_in": "up_blocks_3_attentions_2_proj_in",
    "out_2": "conv_out",
    "time_embed_0": "time_embedding_linear_1",
}


def test_sd15_block_names_including_blocks_10_and_11() -> None:
    """diffusers' converter, given the whole file, mixes input_blocks_1 up with _10/_11 (KeyError)."""
    assert map_sgm_names(SD15, layers_per_block=2) == SD15


def test_mixed_or_impossible_names_are_refused_by_name() -> None:
    with pytest.raises(SgmNameError, match="mixes.*down_blocks_0_resnets_0_conv1"):
        map_sgm_names(["input_blocks_1_0_in_layers_2", "down_blocks_0_resnets_0_conv1"], 2)
    with pytest.raises(SgmNameError, match="middle_block_7_proj_in"):
        map_sgm_names(["middle_block_7_proj_in"], 2)
