"""Compiled path: the stream call under torch.compile, and captured in a CUDA graph, matches eager.

On CPU: aot_eager (the same Dynamo capture and functionalisation as inductor, without its
minutes-long compile on 2 shared cores); inductor is opt-in (LIVE2DIFF_SLOW_TESTS=1, ~2 min).
The CUDA-graph capture runs only on a CUDA device.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from live2diff_broadcast.accel.compiled import CompiledStreamRunner

from ..engine.helpers import frames, make_stream, run

NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
SLOW = pytest.mark.skipif(not os.environ.get("LIVE2DIFF_SLOW_TESTS"),
                          reason="inductor on CPU takes ~2 min: set LIVE2DIFF_SLOW_TESTS=1")


@pytest.mark.parametrize(
    "device,compile_backend,count",
    [
        pytest.param("cpu", "aot_eager", 14, id="aot_eager-cpu"),
        pytest.param("cuda", None, 20, id="cuda-graph", marks=NO_CUDA),
        pytest.param("cpu", "inductor", 14, id="inductor-cpu", marks=SLOW),  # measured: ~2 min on 2 shared cores
    ],
)
def test_compiled_stream_matches_eager(tiny, device, compile_backend, count):
    torch._dynamo.reset()
    dev = torch.device(device)
    inputs = frames(count)
    reference = run(make_stream(copy.deepcopy(tiny).to(dev, torch.float32), 2, device=dev), inputs)
    stream = make_stream(copy.deepcopy(tiny).to(dev, torch.float32), 2, device=dev)
    runner = CompiledStreamRunner(stream.unet.graph, stream.state, stream.cache, use_compile=compile_backend is not None,
                                  compile_backend=compile_backend or "inductor")
    stream.accelerate(runner)
    got = run(stream, inputs)
    assert sorted(got) == list(range(count))
    if dev.type == "cuda":
        assert runner._captured is not None
    assert max((got[f] - reference[f]).abs().max().item() for f in range(count)) < 1e-4
