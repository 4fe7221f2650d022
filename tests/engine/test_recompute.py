import copy

import pytest
import torch

from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.recompute import WindowRecompute, recompute_stream
from live2diff_broadcast.engine.stream import Live2DiffStream
from tests.devices import device_of
from tests.engine.helpers import frames, run


def test_recompute_baseline_equals_cached_stream_within_the_first_window(tiny64):
    config = StreamConfig(height=64, width=64, t_index_list=(30, 40))
    device = device_of(tiny64)
    cached = Live2DiffStream(copy.deepcopy(tiny64), config, device=device, dtype=torch.float64)
    baseline = recompute_stream(copy.deepcopy(tiny64), config, device=device, dtype=torch.float64)
    for s in (cached, baseline):
        s.set_prompt("a dog")
    inputs = frames(16)
    a, b = run(cached, inputs), run(baseline, inputs)
    assert sorted(a) == sorted(b) == list(range(16))
    assert max((a[f] - b[f]).abs().max().item() for f in range(16)) < 1e-9


def test_sliding_sinks_equal_fixed_sinks_until_the_window_is_full_then_differ(tiny64):
    """Table 2's setting B (the warmup area slides with the predecessors) sees exactly what the fixed
    sinks see while every frame still fits the window (6 here), and something else after."""
    config = StreamConfig(height=64, width=64, t_index_list=(30, 40), causal=CausalWindow(6, 2))
    device = device_of(tiny64)
    fixed = recompute_stream(copy.deepcopy(tiny64), config, device=device, dtype=torch.float64)
    sliding = recompute_stream(copy.deepcopy(tiny64), config, device=device, dtype=torch.float64, sinks="sliding")
    for s in (fixed, sliding):
        s.set_prompt("a dog")
    inputs = frames(9)
    a, b = run(fixed, inputs), run(sliding, inputs)
    assert sorted(a) == sorted(b) == list(range(9))
    assert max((a[f] - b[f]).abs().max().item() for f in range(6)) < 1e-12  # frames 0..5: one window
    assert all((a[f] - b[f]).abs().max().item() > 1e-6 for f in range(6, 9))  # frame 6 on: sinks 0, 1 slid out


def test_the_recompute_baseline_is_sequential_only(tiny):
    config = StreamConfig(height=64, width=64, t_index_list=(30, 40))
    assert recompute_stream(tiny, config).latency_frames == 0
    with pytest.raises(ValueError, match="pipelined=False"):
        Live2DiffStream(tiny, config, pipelined=True, sequential_unet=lambda causal_unet: WindowRecompute(causal_unet))
    with pytest.raises(ValueError, match="'fixed' or 'sliding'"):
        recompute_stream(tiny, config, sinks="rolling")  # type: ignore[arg-type]
