"""The functional stream call (cache in, new K/V rows out) equals the in-place eager processor."""

from __future__ import annotations

import copy

import pytest
import torch

from live2diff_broadcast.accel.runner import AcceleratedUNet, TorchGraphRunner
from live2diff_broadcast.accel.stream_graph import StreamUNetGraph

from .helpers import frames, make_stream, run


def attach_functional(stream) -> AcceleratedUNet:
    graph = StreamUNetGraph(stream.components.unet, stream.config.causal.window)
    runner = TorchGraphRunner(graph, stream.state, stream.cache)
    wrapped = AcceleratedUNet(stream.components.unet, stream.state, stream.cache, runner)
    stream.components.unet = wrapped
    return wrapped


@pytest.mark.parametrize("n", [1, 3])
def test_functional_stream_equals_in_place_stream(tiny64, n):
    inputs = frames(24)
    eager = run(make_stream(copy.deepcopy(tiny64), n, torch.float64), inputs)
    stream = make_stream(copy.deepcopy(tiny64), n, torch.float64)
    wrapped = attach_functional(stream)
    functional = run(stream, inputs)
    assert sorted(functional) == list(range(24))
    assert wrapped.runner_calls == 24 - 8 + max(n - 1, 1)  # every pipelined call, flush included
    worst = max((functional[f] - eager[f]).abs().max().item() for f in range(24))
    assert worst < 1e-10


def test_caches_match_after_streaming(tiny64):
    inputs = frames(20)
    a = make_stream(copy.deepcopy(tiny64), 2, torch.float64)
    run(a, inputs)
    b = make_stream(copy.deepcopy(tiny64), 2, torch.float64)
    attach_functional(b)
    run(b, inputs)
    for la, lb in zip(a.cache.layers, b.cache.layers, strict=True):
        assert (la.k[:, :, :, :16] - lb.k[:, :, :, :16]).abs().max().item() < 1e-10
        assert (la.v[:, :, :, :16] - lb.v[:, :, :, :16]).abs().max().item() < 1e-10
