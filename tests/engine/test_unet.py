import copy

import pytest
import torch
from diffusers import MotionAdapter, UNet2DConditionModel

from live2diff_broadcast.engine.unet import (
    DepthAdapter,
    FramewiseGroupNorm,
    build_motion_unet,
    motion_transformers,
)


def test_fresh_depth_adapter_is_zero():
    adapter = DepthAdapter()
    assert torch.count_nonzero(adapter(torch.randn(2, 4, 8, 8))) == 0
    assert sum(p.numel() for p in adapter.parameters()) == pytest.approx(1.09e6, rel=0.02)


def test_depth_latents_reach_the_output(tiny):
    unet = tiny.unet
    x, t, text = torch.randn(1, 4, 1, 8, 8), torch.tensor([500]), torch.randn(1, 16, 32)
    with torch.no_grad():
        a = unet(x, t, text, torch.zeros(1, 4, 8, 8))
        b = unet(x, t, text, torch.randn(1, 4, 8, 8))
    assert (a - b).abs().max() > 0


def test_framewise_norm_keeps_frames_apart_unlike_stock_groupnorm():
    x = torch.randn(1, 8, 3, 4, 4)
    changed = x.clone()
    changed[:, :, 2] *= 10
    ours = FramewiseGroupNorm(2, 8)
    stock = torch.nn.GroupNorm(2, 8)
    assert torch.allclose(ours(x)[:, :, :2], ours(changed)[:, :, :2])
    assert not torch.allclose(stock(x)[:, :, :2], stock(changed)[:, :, :2])  # why we swap it


def test_build_keeps_weight_names_and_shares_norm_parameters(tiny):
    unet = tiny.unet.unet
    names = set(unet.state_dict())
    assert any(".motion_modules.0.norm.weight" in n for n in names)
    assert all(isinstance(t.norm, FramewiseGroupNorm) for t in motion_transformers(unet))


def test_animatediff_v2_adapter_rejected():
    unet2d = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8, cross_attention_dim=32,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    v2 = MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1, motion_norm_num_groups=8, use_motion_mid_block=True)
    with pytest.raises(ValueError, match="v1"):
        build_motion_unet(copy.deepcopy(unet2d), v2)
