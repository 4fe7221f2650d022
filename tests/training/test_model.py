"""The training forward: uni-directional attention with warmup, and what each stage trains."""

from __future__ import annotations

import pytest
import torch

from live2diff_broadcast.engine.ablation import NoDepthPrior
from live2diff_broadcast.engine.components import Live2DiffComponents
from live2diff_broadcast.engine.config import CausalWindow
from live2diff_broadcast.engine.unet import DepthAdapter
from live2diff_broadcast.training.model import prepare_stage

CAUSAL = CausalWindow(window=6, warmup=3)


def _inputs(f: int = 6) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    latents = torch.randn(1, 4, f, 4, 4, dtype=torch.float64, requires_grad=True)
    return latents, torch.tensor([500]), torch.randn(f, 16, 32, dtype=torch.float64), torch.randn(f, 4, 4, 4, dtype=torch.float64)


@pytest.mark.parametrize("t", [3, 4])
def test_frame_loss_has_exactly_zero_gradient_from_later_frames(tiny64: Live2DiffComponents, t: int) -> None:
    prepare_stage(tiny64.unet, 2, CAUSAL)
    latents, timesteps, text, depth = _inputs()
    out = tiny64.unet(latents, timesteps, text, depth)  # (1, 4, F, h, w)
    (grad,) = torch.autograd.grad(out[:, :, t].square().sum(), latents)
    later = grad[:, :, t + 1 :]
    assert torch.count_nonzero(later) == 0  # exactly zero, not small
    assert all(grad[:, :, j].abs().sum() > 0 for j in range(t + 1))  # sinks and earlier frames do reach it


def test_warmup_frames_see_each_other_but_not_later_frames(tiny64: Live2DiffComponents) -> None:
    prepare_stage(tiny64.unet, 2, CAUSAL)
    latents, timesteps, text, depth = _inputs()
    out = tiny64.unet(latents, timesteps, text, depth)
    (grad,) = torch.autograd.grad(out[:, :, 0].square().sum(), latents)
    assert all(grad[:, :, j].abs().sum() > 0 for j in range(CAUSAL.warmup))  # bidirectional among warmup frames
    assert torch.count_nonzero(grad[:, :, CAUSAL.warmup :]) == 0


def test_stage_one_trains_motion_modules_only_without_depth(tiny: Live2DiffComponents) -> None:
    model = prepare_stage(tiny.unet, 1, CAUSAL)
    names = {n for n, p in tiny.unet.named_parameters() if p.requires_grad}
    assert names and all(".motion_modules." in n for n in names)
    assert isinstance(tiny.unet.depth_adapter, NoDepthPrior)
    assert isinstance(model.depth_adapter, DepthAdapter)
    assert {id(p) for p in model.parameters} == {id(p) for p in tiny.unet.parameters() if p.requires_grad}


def test_stage_two_adds_a_zero_output_depth_prior(tiny: Live2DiffComponents) -> None:
    latents, timesteps, text, depth = (x.detach().float() for x in _inputs())
    held = prepare_stage(tiny.unet, 1, CAUSAL).depth_adapter
    stage1 = tiny.unet(latents, timesteps, text, depth)
    tiny.unet.depth_adapter = held  # as when stage 2 starts from stage 1's export
    model = prepare_stage(tiny.unet, 2, CAUSAL, seed=3)
    assert isinstance(tiny.unet.depth_adapter, DepthAdapter) and tiny.unet.depth_adapter is model.depth_adapter
    assert torch.count_nonzero(model.depth_adapter.conv_out.weight) == 0
    assert torch.equal(tiny.unet(latents, timesteps, text, depth), stage1)  # starts exactly at stage 1
    trained = {n for n, p in tiny.unet.named_parameters() if p.requires_grad}
    assert any(n.startswith("depth_adapter.") for n in trained)
    assert all(".motion_modules." in n or n.startswith("depth_adapter.") for n in trained)
