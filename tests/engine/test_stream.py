"""Stream-level behaviour: pipelined == sequential, causality, warmup, memory, re-warm."""

from __future__ import annotations

import copy
import os

import pytest
import torch

from live2diff_broadcast.engine.config import CausalWindow, StreamConfig
from live2diff_broadcast.engine.reference_attention import install_history_attention
from live2diff_broadcast.engine.stream import Live2DiffStream

from .helpers import T_INDEX, frames, make_stream, run

SLOW = pytest.mark.skipif(not os.environ.get("LIVE2DIFF_SLOW_TESTS"), reason="long run: set LIVE2DIFF_SLOW_TESTS=1")


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_pipelined_equals_sequential(tiny64, n):
    inputs = frames(40)  # warmup 8 + 32 streamed: two windows past the first
    pipelined = run(make_stream(copy.deepcopy(tiny64), n, pipelined=True), inputs)
    sequential = run(make_stream(copy.deepcopy(tiny64), n, pipelined=False), inputs)
    assert sorted(pipelined) == list(range(40)) == sorted(sequential)
    worst = max((pipelined[f] - sequential[f]).abs().max().item() for f in range(40))
    assert worst < 1e-9


def test_pipelined_cache_equals_history_reference_multistep(tiny64):
    """3 steps, 50 frames: the ring-buffer cache == recomputing each frame's window from lists."""
    inputs = frames(50, seed=2)
    fast = run(make_stream(copy.deepcopy(tiny64), 3, pipelined=True), inputs)
    ref_stream = make_stream(copy.deepcopy(tiny64), 3, pipelined=False)
    install_history_attention(ref_stream.components.unet.unet, ref_stream.state)
    reference = run(ref_stream, inputs)
    assert max((fast[f] - reference[f]).abs().max().item() for f in range(50)) < 1e-9


def test_output_latency_is_n_minus_one_frames(tiny):
    stream = make_stream(tiny, 3, dtype=torch.float32)
    emitted_at = {}
    for i, image in enumerate(frames(14)):
        for o in stream.push(image):
            emitted_at[o.frame] = i
    assert all(emitted_at[f] == 7 for f in range(8))  # warmup outputs arrive together
    assert all(emitted_at[f] == f + 2 for f in range(8, 12))
    assert stream.latency_frames == 2


def test_perturbing_frame_20_changes_nothing_before_it(tiny64):
    inputs = frames(26)
    changed = list(inputs)
    changed[20] = 1 - inputs[20]
    a = run(make_stream(copy.deepcopy(tiny64), 2), inputs)
    b = run(make_stream(copy.deepcopy(tiny64), 2), changed)
    assert all(torch.equal(a[f], b[f]) for f in range(20))
    assert (a[20] - b[20]).abs().max().item() > 1e-6


def test_perturbing_warmup_frame_7_changes_warmup_output_0(tiny64):
    inputs = frames(10)
    changed = list(inputs)
    changed[7] = 1 - inputs[7]
    a = run(make_stream(copy.deepcopy(tiny64), 2), inputs)
    b = run(make_stream(copy.deepcopy(tiny64), 2), changed)
    assert (a[0] - b[0]).abs().max().item() > 1e-9


def test_fill_rows_never_write_a_real_slot(tiny):
    stream = make_stream(tiny, 3, dtype=torch.float32)
    inputs = frames(9)
    for image in inputs[:8]:
        stream.push(image)
    ring = slice(8, 16)
    snap = [(layer.k[:, :, :, ring].clone(), layer.v[:, :, :, ring].clone()) for layer in stream.cache.layers]
    stream.push(inputs[8])  # rows 1 and 2 are fill rows in this call
    for layer, (k, v) in zip(stream.cache.layers, snap, strict=True):
        assert torch.equal(layer.k[1:, :, :, ring], k[1:]) and torch.equal(layer.v[1:, :, :, ring], v[1:])
        assert not torch.equal(layer.k[0, :, :, ring], k[0])  # step 0 got frame 8


# window 4 = 2 sinks + a 2-slot ring: 40 frames turn the ring 20 times (1000 frames: opt-in)
@pytest.mark.parametrize("count", [40, pytest.param(1000, marks=SLOW)])
def test_cache_storage_is_allocated_once_over_many_windows(tiny, count):
    config = StreamConfig(height=64, width=64, t_index_list=(30, 40), causal=CausalWindow(window=4, warmup=2))
    stream = Live2DiffStream(tiny, config)
    stream.set_prompt("x")
    image = frames(1)[0]
    for _ in range(3):
        stream.push(image)
    pointers = [(layer.k.data_ptr(), layer.v.data_ptr()) for layer in stream.cache.layers]
    nbytes = stream.cache.nbytes
    produced = 0
    for _ in range(count):
        produced += len(stream.push(image))
    assert produced == count
    assert [(layer.k.data_ptr(), layer.v.data_ptr()) for layer in stream.cache.layers] == pointers
    assert stream.cache.nbytes == nbytes
    assert len(stream.recent) == 2 and not stream.pending


def test_seeded_runs_reproduce_and_seeds_differ(tiny):
    inputs = frames(12)
    a = run(make_stream(copy.deepcopy(tiny), 2, dtype=torch.float32, seed=1), inputs)
    b = run(make_stream(copy.deepcopy(tiny), 2, dtype=torch.float32, seed=1), inputs)
    c = run(make_stream(copy.deepcopy(tiny), 2, dtype=torch.float32, seed=2), inputs)
    assert all(torch.equal(a[f], b[f]) for f in a)
    assert any(not torch.equal(a[f], c[f]) for f in a)


def test_fixed_noise_mode_uses_the_same_noise_for_every_frame(tiny):
    stream = make_stream(tiny, 2, dtype=torch.float32, noise_mode="fixed")
    assert torch.equal(stream.noise(3, 0), stream.noise(40, 0))
    assert not torch.equal(stream.noise(3, 0), stream.noise(3, 1))


def test_rewarm_recomputes_sinks_for_new_prompt_without_a_gap(tiny):
    stream = make_stream(tiny, 2, dtype=torch.float32)
    inputs = frames(30)
    got: list[int] = []
    for image in inputs[:20]:
        got += [o.frame for o in stream.push(image)]
    sinks_before = stream.cache.layers[0].k[:, :, :, :8].clone()
    stream.set_prompt("a van gogh painting")
    got += [o.frame for o in stream.rewarm()]
    assert not torch.equal(stream.cache.layers[0].k[:, :, :, :8], sinks_before)
    for image in inputs[20:]:
        got += [o.frame for o in stream.push(image)]
    got += [o.frame for o in stream.flush()]
    assert got == list(range(30))  # every frame exactly once, in order, none lost in the switch


def test_rewarm_equals_a_fresh_stream_warmed_on_the_same_frames(tiny64):
    inputs = frames(20)
    switched = make_stream(copy.deepcopy(tiny64), 2)
    run(switched, inputs[:16], flush=False)
    switched.set_prompt("a van gogh painting")
    switched.rewarm()  # sinks = frames 8..15 with the new prompt
    fresh = make_stream(copy.deepcopy(tiny64), 2)
    fresh.set_prompt("a van gogh painting")
    run(fresh, inputs[8:16], flush=False)
    for a, b in zip(switched.cache.layers, fresh.cache.layers, strict=True):
        assert (a.k[:, :, :, :8] - b.k[:, :, :, :8]).abs().max().item() < 1e-12


def test_push_before_set_prompt_is_a_clear_error(tiny):
    stream = Live2DiffStream(tiny, StreamConfig(height=64, width=64))
    with pytest.raises(RuntimeError, match="set_prompt"):
        stream.push(frames(1)[0])


def test_reconfigure_to_more_steps_then_rewarm_equals_a_fresh_stream(tiny64):
    inputs = frames(24)
    switched = make_stream(copy.deepcopy(tiny64), 2)
    got = [o.frame for image in inputs[:16] for o in switched.push(image)]
    new_config = StreamConfig(height=64, width=64, t_index_list=T_INDEX[3], seed=5)
    switched.reconfigure(new_config)
    switched.set_prompt("a van gogh painting")
    got += [o.frame for o in switched.rewarm()]  # sinks = frames 8..15, 3 steps, seed 5
    assert switched.cache.num_steps == 3
    fresh = Live2DiffStream(copy.deepcopy(tiny64), new_config, dtype=torch.float64)
    fresh.set_prompt("a van gogh painting")
    run(fresh, inputs[8:16], flush=False)
    for image in inputs[16:]:
        mine, theirs = switched.push(image), fresh.push(image)
        got += [o.frame for o in mine]
        assert [o.frame - 8 for o in mine] == [o.frame for o in theirs]
        assert all((a.image - b.image).abs().max().item() < 1e-9 for a, b in zip(mine, theirs, strict=True))
    got += [o.frame for o in switched.flush()]
    assert got == list(range(24))


def test_reconfigure_refuses_structural_changes(tiny):
    stream = make_stream(tiny, 2, dtype=torch.float32)
    with pytest.raises(ValueError, match="new stream"):
        stream.reconfigure(StreamConfig(height=128, width=64))
