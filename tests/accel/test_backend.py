"""Backend selection: a missing TensorRT falls back loudly and the stream still runs; runtime
failures fall back too; onnxruntime from the profile; KV-cache memory equals its analytic size."""

from __future__ import annotations

import copy
import logging
import sys

import numpy as np
import pytest
import torch

from live2diff_broadcast.accel.backend import BackendReport, FallbackRunner
from live2diff_broadcast.accel.geometry import analytic_kv_bytes, layer_geometry
from live2diff_broadcast.assembly import translator_from_profile
from live2diff_broadcast.config import EngineSection, Profile
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream

from ..engine.helpers import frames, make_stream, run


def _profile(tmp_path, **engine) -> Profile:
    section = EngineSection(device="cpu", dtype="float32", width=64, height=64, engine_dir=str(tmp_path), **engine)
    return Profile(engine=section)


def _camera(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(count)]


def test_missing_tensorrt_falls_back_to_pytorch_loudly_and_streams(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError, even where installed
    with caplog.at_level(logging.ERROR):
        translator = translator_from_profile(_profile(tmp_path, backend="tensorrt", depth_backend="pytorch",
                                                           vae_backend="pytorch"))
    assert translator.active_backend == "pytorch"
    assert "TensorRT is not installed" in translator.backend_fallback_reason
    assert "'live2diff-broadcast[tensorrt]'" in translator.backend_fallback_reason
    assert any("BACKEND FALLBACK" in r.message and "TensorRT is not installed" in r.message for r in caplog.records)
    outputs = [o for frame in _camera(10) for o in translator.push(frame)]
    assert [i for i, _ in outputs] == list(range(9))  # 8 warmup outputs, then frame 8 (1 frame of latency)
    assert outputs[-1][1].shape == (64, 64, 3)


def test_onnxruntime_backend_from_the_profile_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    ort = translator_from_profile(_profile(tmp_path, backend="onnxruntime"))
    assert (ort.active_backend, ort.backend.depth, ort.backend.vae) == ("onnxruntime", "onnxruntime", "onnxruntime")
    assert ort.backend_fallback_reason is None
    eager = translator_from_profile(_profile(tmp_path, backend="pytorch"))
    assert eager.active_backend == "pytorch" and eager.backend.depth == "pytorch"
    cam = _camera(12)
    a = [o for f in cam for o in ort.push(f)]
    b = [o for f in cam for o in eager.push(f)]
    assert [i for i, _ in a] == [i for i, _ in b] == list(range(11))
    worst = max(np.abs(x.astype(int) - y.astype(int)).max() for (_, x), (_, y) in zip(a, b, strict=True))
    assert worst <= 1  # uint8 rounding
    assert ort.stream.runner_calls == 4


def test_auto_is_eager_pytorch_on_cpu(tmp_path):
    translator = translator_from_profile(_profile(tmp_path))
    assert translator.active_backend == "pytorch" and translator.backend_fallback_reason is None


class _Broken:
    name = "tensorrt"

    def __init__(self, stream: Live2DiffStream) -> None:
        self.state, self.cache = stream.state, stream.cache

    def __call__(self, *args):
        raise RuntimeError("CUDA out of memory (simulated)")


def test_a_runner_failing_mid_stream_falls_back_and_the_output_is_unchanged(tiny, caplog):
    inputs = frames(12)
    reference = run(make_stream(copy.deepcopy(tiny), 2), inputs)
    stream = make_stream(copy.deepcopy(tiny), 2)
    report = BackendReport(requested="tensorrt", active="tensorrt")
    stream.accelerate(FallbackRunner(_Broken(stream), stream.unet, report))
    with caplog.at_level(logging.ERROR):
        got = run(stream, inputs)
    assert report.active == "pytorch" and "out of memory (simulated)" in report.fallback_reason
    assert any("BACKEND FALLBACK" in r.message for r in caplog.records)
    assert all(torch.equal(got[f], reference[f]) for f in range(12))


@pytest.mark.parametrize("size,n", [((64, 64), 2), ((48, 80), 3)])
def test_kv_cache_allocated_size_equals_analytic_size(tiny, size, n):
    causal = CausalWindow(16, 8)
    config = StreamConfig(height=size[0], width=size[1], t_index_list=(30, 36, 42)[:n], causal=causal)
    stream = Live2DiffStream(tiny, config)
    stream.set_prompt("x")
    for image in frames(8, size=max(size))[:8]:
        stream.push(image[:, : size[0], : size[1]])
    geometry = layer_geometry(stream.components.unet.unet, size[0] // 8, size[1] // 8)
    for g, layer in zip(geometry, stream.cache.layers, strict=True):
        assert tuple(layer.k.shape) == g.cache_shape(n, causal)
    window_only, with_scratch = analytic_kv_bytes(geometry, n, causal, torch.float32)
    assert stream.cache.nbytes == with_scratch
    assert window_only * 17 == with_scratch * 16


def test_runner_follows_the_stream_to_a_new_step_count(tmp_path):
    """reconfigure() to another step count re-binds the UNet: the onnxruntime runner is rebuilt for it."""
    translator = translator_from_profile(_profile(tmp_path, backend="onnxruntime", depth_backend="pytorch",
                                                       vae_backend="pytorch"))
    stream = translator.stream
    if not hasattr(stream, "reconfigure"):
        pytest.skip("this stream has no reconfigure()")
    cam = _camera(16)
    for f in cam[:10]:
        translator.push(f)
    first_runner = stream.runner
    from dataclasses import replace

    stream.reconfigure(replace(stream.config, t_index_list=(30, 36, 42)))
    stream.rewarm()
    calls = stream.runner_calls
    out = [o for f in cam[10:] for o in translator.push(f)]
    assert stream.runner_calls == calls + 6
    assert stream.runner is not first_runner and stream.runner.state is stream.state
    assert all(a is b for a, b in zip(stream.runner.cache.layers, stream.cache.layers, strict=True))
    assert stream.runner.cache.num_steps == 3 and translator.active_backend == "onnxruntime"
    assert stream.runner.name == "onnxruntime"  # rebuilt for the new steps, not the eager CausalUNet
    assert out  # streaming continued on the rebuilt runner
