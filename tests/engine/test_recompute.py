import copy

import torch

from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.recompute import WindowRecomputeStream
from live2diff_broadcast.engine.stream import Live2DiffStream
from tests.devices import device_of
from tests.engine.helpers import frames, run


def test_recompute_baseline_equals_cached_stream_within_the_first_window(tiny64):
    config = StreamConfig(height=64, width=64, t_index_list=(30, 40))
    device = device_of(tiny64)
    cached = Live2DiffStream(copy.deepcopy(tiny64), config, device=device, dtype=torch.float64)
    baseline = WindowRecomputeStream(copy.deepcopy(tiny64), config, device=device, dtype=torch.float64)
    for s in (cached, baseline):
        s.set_prompt("a dog")
    inputs = frames(16)
    a, b = run(cached, inputs), run(baseline, inputs)
    assert sorted(a) == sorted(b) == list(range(16))
    assert max((a[f] - b[f]).abs().max().item() for f in range(16)) < 1e-9
