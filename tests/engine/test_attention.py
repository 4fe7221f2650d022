"""Exactness of the KV-cached causal attention (the fast path, through ``CausalUNet``: functional
stream graph + in-place ring writes) against plain references (tiny UNet, float64)."""

from __future__ import annotations

import copy

import pytest
import torch

from live2diff_broadcast.engine.attention import causal_mask
from live2diff_broadcast.engine.causal_unet import CausalUNet
from live2diff_broadcast.engine.config import CausalWindow
from live2diff_broadcast.engine.kv_cache import TemporalAttentionState
from live2diff_broadcast.engine.reference_attention import install_history_attention, install_masked_attention
from live2diff_broadcast.engine.unet import Live2DiffUNet

CAUSAL = CausalWindow(window=16, warmup=8)
T = torch.tensor([499])


def _inputs(frames: int, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(frames, 4, 8, 8, generator=g).to(dtype)  # (F, 4, h, w)
    depth = torch.randn(frames, 4, 8, 8, generator=g).to(dtype)
    text = torch.randn(1, 16, 32, generator=g).to(dtype)
    return latents, depth, text


def _causal(unet: Live2DiffUNet, state: TemporalAttentionState, num_steps: int) -> CausalUNet:
    return CausalUNet(unet, state, num_steps)


def _stream_unet(unet: CausalUNet, latents, depth, text, state: TemporalAttentionState) -> torch.Tensor:
    """Warmup frames in one call, then one call per frame; returns eps (F, 4, h, w)."""
    w = CAUSAL.warmup
    state.set_warmup(0)
    outs = [unet.warmup(latents[None, :w].transpose(1, 2), T, text.expand(w, -1, -1), depth[:w])[0].transpose(0, 1)]
    for f in range(w, latents.shape[0]):
        state.set_stream(0, [f])
        outs.append(unet(latents[None, f : f + 1].transpose(1, 2), T, text, depth[f : f + 1])[0].transpose(0, 1))
    return torch.cat(outs)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_streaming_equals_one_masked_forward_within_window(tiny, dtype, tol):
    unet = tiny.unet.to(dtype)
    reference = copy.deepcopy(unet)
    install_masked_attention(reference.unet, causal_mask(CAUSAL.window, CAUSAL))
    state = TemporalAttentionState(CAUSAL, max_rows=1, device=torch.device("cpu"), dtype=dtype)
    causal = _causal(unet, state, num_steps=1)
    latents, depth, text = _inputs(CAUSAL.window, dtype)

    with torch.no_grad():
        streamed = _stream_unet(causal, latents, depth, text, state)
        full = reference(latents[None].transpose(1, 2), T, text.expand(CAUSAL.window, -1, -1), depth)[0].transpose(0, 1)

    err = (streamed - full).abs().max().item()
    if dtype == torch.float64:
        assert err < tol
    else:
        assert err / full.abs().max().item() < tol


def test_streaming_equals_history_reference_beyond_window(tiny64):
    unet = tiny64.unet
    reference = copy.deepcopy(unet)
    state = TemporalAttentionState(CAUSAL, max_rows=1, device=torch.device("cpu"), dtype=torch.float64)
    fast = _causal(unet, state, num_steps=1)
    install_history_attention(reference.unet, state)  # same state drives both: same calls
    slow = _causal(reference, state, num_steps=1)  # the reference behind the same call
    frames = 3 * CAUSAL.window + 5
    latents, depth, text = _inputs(frames, torch.float64, seed=1)

    with torch.no_grad():
        streamed = _stream_unet(fast, latents, depth, text, state)
        recomputed = _stream_unet(slow, latents, depth, text, state)

    assert (streamed - recomputed).abs().max().item() < 1e-9


def test_masked_reference_would_differ_without_causality(tiny64):
    """Guard against a vacuous exactness test: bidirectional attention gives other outputs."""
    unet = tiny64.unet
    causal_ref, bidir_ref = copy.deepcopy(unet), copy.deepcopy(unet)
    install_masked_attention(causal_ref.unet, causal_mask(16, CAUSAL))
    install_masked_attention(bidir_ref.unet, torch.ones(16, 16, dtype=torch.bool))
    latents, depth, text = _inputs(16, torch.float64)
    args = (latents[None].transpose(1, 2), T, text.expand(16, -1, -1), depth)
    with torch.no_grad():
        diff = (causal_ref(*args) - bidir_ref(*args)).abs()[:, :, 8].max().item()
    assert diff > 1e-6


def test_frame_outputs_do_not_depend_on_later_frames(tiny64):
    """Per-frame GroupNorm: with causal attention, a later frame cannot move an earlier output."""
    unet = tiny64.unet
    install_masked_attention(unet.unet, causal_mask(16, CAUSAL))
    latents, depth, text = _inputs(16, torch.float64)
    changed = latents.clone()
    changed[12] += 5.0
    with torch.no_grad():
        a = unet(latents[None].transpose(1, 2), T, text.expand(16, -1, -1), depth)
        b = unet(changed[None].transpose(1, 2), T, text.expand(16, -1, -1), depth)
    assert (a - b)[:, :, :12].abs().max().item() == 0.0
    assert (a - b)[:, :, 12].abs().max().item() > 0.0


def test_stream_batch_rows_read_and_write_their_own_step_cache(tiny64):
    """Two rows at two steps in one call == each row alone against its step's cache."""
    unet = tiny64.unet
    single = copy.deepcopy(unet)
    state = TemporalAttentionState(CAUSAL, max_rows=2, device=torch.device("cpu"), dtype=torch.float64)
    state1 = TemporalAttentionState(CAUSAL, max_rows=1, device=torch.device("cpu"), dtype=torch.float64)
    batched_unet, single_unet = _causal(unet, state, num_steps=2), _causal(single, state1, num_steps=2)
    latents, depth, text = _inputs(12, torch.float64, seed=3)
    ts = torch.tensor([699, 299])
    with torch.no_grad():
        for s in range(2):  # warmup both steps in both models
            for model, st in ((batched_unet, state), (single_unet, state1)):
                st.set_warmup(s)
                model.warmup(latents[None, :8].transpose(1, 2), ts[s : s + 1], text.expand(8, -1, -1), depth[:8])
        for f in range(8, 12):  # row 0: frame f at step 0, row 1: frame f-1 at step 1
            rows = [f, f - 1 if f > 8 else None]
            state.set_stream(0, rows)
            x = torch.stack([latents[f], latents[f - 1]])[:, :, None]
            batched = batched_unet(x, ts, text.expand(2, -1, -1), torch.stack([depth[f], depth[f - 1]]))
            state1.set_stream(0, [f])
            alone0 = single_unet(x[:1], ts[:1], text, depth[f : f + 1])
            assert (batched[0] - alone0[0]).abs().max().item() < 1e-9
            if rows[1] is not None:
                state1.set_stream(1, [f - 1])
                alone1 = single_unet(x[1:], ts[1:], text, depth[f - 1 : f])
                assert (batched[1] - alone1[0]).abs().max().item() < 1e-9
