"""The stream's depth prior: by default the authors' (squash, warmup frames normalised jointly,
streaming frames one by one), ``per_frame`` / ``letterbox`` on request; held to a hand-written oracle."""

from __future__ import annotations

import copy

import torch

from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream, _Encoded

from .helpers import frames, make_stream
from .test_depth import authors_encode_depth


def oracle_latents(components, images: list[torch.Tensor]) -> torch.Tensor:
    """Their depth latents: encode_depth on the batch, then vae.encode(...) * scaling_factor."""
    batch = torch.stack(images).to(next(components.unet.parameters()))
    with torch.no_grad():
        depth = authors_encode_depth(components.depth.model, batch, components.depth.input_size)
        return components.vae.encode(depth).latents * components.vae.config.scaling_factor


def sink_depths(stream: Live2DiffStream) -> list[torch.Tensor]:
    """Records the depth latents of the frames each warmup pass denoises."""
    seen: list[torch.Tensor] = []
    real = stream._warmup

    def spy(batch: list[_Encoded]):  # type: ignore[no-untyped-def]
        seen.append(torch.stack([f.depth for f in batch]))
        return real(batch)

    stream._warmup = spy  # type: ignore[method-assign]
    return seen


def test_default_warmup_depth_is_normalised_over_the_warmup_clip(tiny64):
    inputs = frames(10, seed=4)
    stream = make_stream(copy.deepcopy(tiny64), 2)
    seen = sink_depths(stream)
    for image in inputs:
        stream.push(image)
    (sinks,) = seen
    want = oracle_latents(tiny64, inputs[:8])  # one call over all 8: one min / max
    assert (sinks - want).abs().max().item() < 1e-10
    # streaming frames: one at a time, each its own range (their __call__ -> encode_depth(x) of one frame)
    for frame in stream.recent:
        if frame.frame >= 8:
            own = oracle_latents(tiny64, [inputs[frame.frame]])[0]
            assert (frame.depth - own).abs().max().item() < 1e-10
    per_frame = torch.cat([oracle_latents(tiny64, [x]) for x in inputs[:8]])
    assert (sinks - per_frame).abs().max().item() > 1e-3  # the two rules differ on this clip


def test_rewarm_normalises_its_frames_jointly(tiny64):
    inputs = frames(12, seed=5)
    stream = make_stream(copy.deepcopy(tiny64), 2)
    seen = sink_depths(stream)
    for image in inputs:
        stream.push(image)
    stream.rewarm()
    recent = [f.frame for f in stream.recent]
    assert recent == list(range(4, 12))
    assert (seen[-1] - oracle_latents(tiny64, inputs[4:12])).abs().max().item() < 1e-10


def test_per_frame_mode_normalises_the_sinks_one_by_one(tiny64):
    inputs = frames(8, seed=4)
    stream = make_stream(copy.deepcopy(tiny64), 2, depth_normalise="per_frame")
    seen = sink_depths(stream)
    for image in inputs:
        stream.push(image)
    want = torch.cat([oracle_latents(tiny64, [x]) for x in inputs])
    assert (seen[0] - want).abs().max().item() < 1e-10


def test_letterbox_mode_reaches_the_depth_model(tiny64):
    """A 64x48 stream: letterboxed depth is what the depth model gives for that frame, unlike squashed."""
    param = next(tiny64.unet.parameters())
    inputs = [f[:, 8:56] for f in frames(9, seed=6)]  # (3, 48, 64)

    def stream(**depth: str) -> Live2DiffStream:
        config = StreamConfig(height=48, width=64, t_index_list=(35,), **depth)  # type: ignore[arg-type]
        s = Live2DiffStream(copy.deepcopy(tiny64), config, device=param.device, dtype=param.dtype)
        s.set_prompt("a cartoon dog")
        for image in inputs:
            s.push(image)
        return s

    squash, letterbox = stream(), stream(depth_resize="letterbox")
    expected = letterbox.components.depth(inputs[8][None].to(param), "letterbox")
    got = letterbox.recent[-1].depth
    assert torch.equal(got, letterbox.codec.encode(expected.expand(-1, 3, -1, -1))[0])
    assert not torch.allclose(got, squash.recent[-1].depth)
