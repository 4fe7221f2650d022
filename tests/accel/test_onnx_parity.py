"""ONNX graphs on onnxruntime (CPU) against PyTorch, tiny models.

The stream UNet test runs warmup in PyTorch (filling the sinks), then streams frames through
onnxruntime with the cache bound by pointer and the new K/V rows written into the ring on the
host side: the cache round-trips through the graph for more than a full ring turn.
"""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from live2diff_broadcast.accel.onnx_export import (  # noqa: E402
    StreamGraphSpec,
    export_depth,
    export_stream_unet,
    export_taesd,
)
from live2diff_broadcast.accel.ort_components import OrtDepthEstimator, OrtLatentCodec, OrtModel  # noqa: E402
from live2diff_broadcast.accel.ort_session import make_session  # noqa: E402
from live2diff_broadcast.accel.ort_unet import OrtStreamRunner  # noqa: E402
from live2diff_broadcast.engine.vae import LatentCodec  # noqa: E402

from ..engine.helpers import frames, make_stream, run  # noqa: E402

CPU = torch.device("cpu")


def test_stream_unet_onnx_round_trips_the_cache_over_20_frames(tiny, tmp_path):
    n = 2
    inputs = frames(28)  # 8 warmup + 20 streamed: the 8-slot ring turns over 2.5 times
    reference = run(make_stream(copy.deepcopy(tiny), n), inputs)

    stream = make_stream(copy.deepcopy(tiny), n)
    _, text_len, text_dim = stream.text_embeds.shape
    spec = StreamGraphSpec(64, 64, n, stream.config.causal, text_len, text_dim)
    path = export_stream_unet(stream.components.unet, spec, tmp_path / "unet_stream.onnx")
    runner = OrtStreamRunner.from_file(path, stream.state, stream.cache, CPU)
    stream.accelerate(runner)
    got = {o.frame: o.image for image in inputs[:8] for o in stream.push(image)}  # warmup: PyTorch
    pointers = [(layer.k.data_ptr(), layer.v.data_ptr()) for layer in stream.cache.layers]
    got.update(run(stream, inputs[8:]))  # streamed: onnxruntime

    assert sorted(got) == list(range(28))
    assert stream.runner_calls == 20 + n - 1
    worst = max((got[f] - reference[f]).abs().max().item() for f in range(28))
    assert worst < 2e-4, f"onnxruntime stream differs from PyTorch by {worst}"
    assert [(layer.k.data_ptr(), layer.v.data_ptr()) for layer in stream.cache.layers] == pointers  # in place


def test_taesd_encoder_decoder_onnx(tiny, tmp_path):
    vae = tiny.vae
    enc_path, dec_path = export_taesd(vae, 64, 64, batch=1, folder=tmp_path)
    codec = OrtLatentCodec.from_files(enc_path, dec_path, CPU, torch.float32)
    ref = LatentCodec(vae)
    images = torch.rand(2, 3, 64, 64)  # batch 2 through batch-1 graphs: chunked
    latents = ref.encode(images)
    assert (codec.encode(images) - latents).abs().max().item() < 1e-4
    assert (codec.decode(latents) - ref.decode(latents)).abs().max().item() < 1e-4


def test_depth_onnx(tiny, tmp_path):
    depth = tiny.depth
    path = export_depth(depth.model, depth.input_size, tmp_path / "depth.onnx")
    ort_depth = OrtDepthEstimator(OrtModel(make_session(path, CPU), torch.float32), depth.input_size)
    images = torch.rand(1, 3, 48, 64)  # non-square: squashed / letterboxed the same way
    for resize in ("squash", "letterbox"):
        expected = depth(images, resize)
        got = ort_depth(images, resize)
        assert got.shape == expected.shape == (1, 1, 48, 64)
        assert (got - expected).abs().max().item() < 1e-4
