"""The stream graph driven the way every accelerated backend drives it (its own graph object over
the same UNet, the whole cache tensors as inputs, the new K/V rows written back by the runner)
equals the eager stream (``CausalUNet``: the same graph over per-step cache views)."""

from __future__ import annotations

import copy

import pytest
import torch

from live2diff_broadcast.accel.compiled import CompiledStreamRunner
from live2diff_broadcast.engine.stream import Live2DiffStream
from live2diff_broadcast.engine.stream_graph import StreamUNetGraph

from ..engine.helpers import frames, make_stream, run


def attach_graph_runner(stream: Live2DiffStream) -> Live2DiffStream:
    graph = StreamUNetGraph(stream.components.unet)  # a second graph: binds to the UNet's existing call
    assert graph.call is stream.unet.graph.call
    stream.accelerate(CompiledStreamRunner(graph, stream.state, stream.cache, use_compile=False, cuda_graph=False))
    return stream


@pytest.mark.parametrize("n", [1, 3])
def test_functional_stream_equals_in_place_stream(tiny64, n):
    inputs = frames(24)
    eager = run(make_stream(copy.deepcopy(tiny64), n, dtype=torch.float64), inputs)
    stream = attach_graph_runner(make_stream(copy.deepcopy(tiny64), n, dtype=torch.float64))
    functional = run(stream, inputs)
    assert sorted(functional) == list(range(24))
    assert stream.runner_calls == 24 - 8 + max(n - 1, 1)  # every pipelined call, flush included
    worst = max((functional[f] - eager[f]).abs().max().item() for f in range(24))
    assert worst < 1e-10


def test_caches_match_after_streaming(tiny64):
    inputs = frames(20)
    a = make_stream(copy.deepcopy(tiny64), 2, dtype=torch.float64)
    run(a, inputs)
    b = attach_graph_runner(make_stream(copy.deepcopy(tiny64), 2, dtype=torch.float64))
    run(b, inputs)
    for la, lb in zip(a.cache.layers, b.cache.layers, strict=True):
        assert (la.k[:, :, :, :16] - lb.k[:, :, :, :16]).abs().max().item() < 1e-10
        assert (la.v[:, :, :, :16] - lb.v[:, :, :, :16]).abs().max().item() < 1e-10
