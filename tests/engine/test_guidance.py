"""Residual self-guidance (engine/guidance.py) on the tiny model: it changes the output, keeps
pipelined == sequential, and at 0 gives back the input latent."""

from __future__ import annotations

import copy

import pytest
import torch

from live2diff_broadcast.engine.guidance import guided

from .helpers import frames, make_stream, run


def test_scale_one_is_the_prediction_itself() -> None:
    eps, noise = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    assert guided(eps, noise, 1.0) is eps
    assert torch.equal(guided(eps, noise, 0.0), noise)
    assert torch.allclose(guided(eps, noise, 2.0), 2 * eps - noise)


@pytest.mark.parametrize("n", [2, 3])
def test_pipelined_equals_sequential_under_guidance(tiny64, n):
    inputs = frames(30)
    pipelined = run(make_stream(copy.deepcopy(tiny64), n, pipelined=True, guidance=1.8), inputs)
    sequential = run(make_stream(copy.deepcopy(tiny64), n, pipelined=False, guidance=1.8), inputs)
    assert sorted(pipelined) == list(range(30)) == sorted(sequential)
    assert max((pipelined[f] - sequential[f]).abs().max().item() for f in range(30)) < 1e-9


def test_guidance_changes_the_output_and_zero_returns_the_input(tiny64):
    inputs = frames(12)
    plain = run(make_stream(copy.deepcopy(tiny64), 2), inputs)
    strong = run(make_stream(copy.deepcopy(tiny64), 2, guidance=2.0), inputs)
    assert min((plain[f] - strong[f]).abs().max().item() for f in range(12)) > 1e-3
    zero_stream = make_stream(copy.deepcopy(tiny64), 2, guidance=0.0)
    zero = run(zero_stream, inputs)
    codec = zero_stream.codec
    for f in (0, 9, 11):  # a sink and two streamed frames: the model's prediction is ignored entirely
        image = inputs[f][None].to(torch.float64)
        round_trip = codec.decode(codec.encode(image))[0]
        assert (zero[f] - round_trip).abs().max().item() < 1e-5
