"""TensorRT/ONNX cache keys change when, and only when, something that changes a plan changes."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

from live2diff_broadcast.accel import onnx_targets
from live2diff_broadcast.accel.onnx_targets import stream_unet_target
from live2diff_broadcast.accel.tensorrt_cache import TensorRTCache
from live2diff_broadcast.engine.config import CausalWindow, StreamConfig

BASE = StreamConfig(height=64, width=64, t_index_list=(30, 40), causal=CausalWindow(16, 8))


@pytest.fixture
def identity(monkeypatch):
    """Stand-in for the TensorRT version and GPU (no TensorRT or GPU here)."""
    current = {"trt": "10.3.0", "gpu": "NVIDIA GeForce RTX 4090", "cc": "8.9"}
    monkeypatch.setattr(onnx_targets, "_identity", lambda device, tensorrt: (current["trt"], current["gpu"], current["cc"]))
    return current


def key(components, config=BASE, opset=17):
    return stream_unet_target(components, config, opset, tensorrt=True).key


def test_key_is_stable_and_ignores_what_does_not_change_an_engine(tiny, identity):
    k = key(tiny)
    assert key(tiny).digest() == k.digest()
    other_style = replace(BASE, t_index_list=(25, 45), seed=7, prompt_template="art, {}", noise_mode="fixed")
    assert key(tiny, other_style).digest() == k.digest()  # timesteps are graph inputs; prompt/seed not in the graph


def test_weights_change_the_key_but_not_the_structure(tiny, identity):
    k = key(tiny)
    styled = copy.deepcopy(tiny)
    with torch.no_grad():  # a fused LoRA: W += scale * up @ down on one projection
        proj = styled.unet.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
        proj.weight += 1e-3 * torch.randn(proj.weight.shape[0], 2) @ torch.randn(2, proj.weight.shape[1])
    k2 = key(styled)
    assert k2.weights != k.weights and k2.digest() != k.digest()
    assert k2.structure_digest() == k.structure_digest()  # a refittable engine can be refitted instead


@pytest.mark.parametrize(
    "change",
    [
        lambda c: replace(c, height=48),
        lambda c: replace(c, width=80),
        lambda c: replace(c, t_index_list=(30, 36, 42)),
        lambda c: replace(c, causal=CausalWindow(12, 8)),
        lambda c: replace(c, causal=CausalWindow(16, 4)),
    ],
    ids=["height", "width", "steps", "window", "warmup"],
)
def test_shape_changes_change_the_key(tiny, identity, change):
    k, k2 = key(tiny), key(tiny, change(BASE))
    assert k2.digest() != k.digest() and k2.structure_digest() != k.structure_digest()


def test_precision_tensorrt_gpu_and_opset_change_the_key(tiny, identity):
    k = key(tiny)
    assert key(copy.deepcopy(tiny).to("cpu", torch.float16)).precision == "fp16" != k.precision
    assert key(tiny, opset=18).digest() != k.digest()
    identity["trt"] = "10.4.0"
    assert key(tiny).digest() != k.digest()
    identity["trt"], identity["gpu"], identity["cc"] = "10.3.0", "NVIDIA H100 80GB HBM3", "9.0"
    assert key(tiny).digest() != k.digest()
    identity["gpu"], identity["cc"] = "NVIDIA GeForce RTX 4090", "8.9"
    assert key(tiny).digest() == k.digest()


def test_onnx_key_ignores_tensorrt_and_gpu(tiny, identity, tmp_path):
    cache = TensorRTCache(tmp_path)
    a = key(tiny)
    identity["gpu"] = "another GPU"
    assert cache.onnx_path(key(tiny)) == cache.onnx_path(a)
    assert cache.plan_path(key(tiny)) != cache.plan_path(a)


def test_cache_lookup_and_refit_candidate(tiny, identity, tmp_path):
    cache = TensorRTCache(tmp_path)
    k = key(tiny)
    assert cache.lookup(k) is None and cache.refit_candidate(k) is None
    plan = cache.plan_path(k)
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_bytes(b"engine")
    cache.record(k, plan, refittable=True, build_seconds=12.0)
    assert cache.lookup(k) == plan
    new_weights = replace(k, weights="0" * 32)
    assert cache.lookup(new_weights) is None
    assert cache.refit_candidate(new_weights) == plan
    assert cache.refit_candidate(replace(new_weights, batch=3)) is None
    assert cache.last_build_seconds("unet_stream", k.gpu) == 12.0
