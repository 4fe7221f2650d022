import itertools

import pytest
import torch

from live2diff_broadcast.engine.config import CausalWindow
from live2diff_broadcast.engine.kv_cache import (
    LayerKVCache,
    TemporalAttentionState,
    TemporalKVCache,
    plan_row,
    ring_slot,
    write_rows,
)

CAUSAL = CausalWindow(window=16, warmup=8)


def visible_frames(frame: int, causal: CausalWindow = CAUSAL) -> list[tuple[int, int]]:
    """(position, frame) pairs a row sees, decoded from its plan (slot -> frame by ring rule)."""
    plan = plan_row(frame, causal)
    seen = []
    for slot, (pos, ok) in enumerate(zip(plan.key_positions, plan.key_valid, strict=True)):
        if not ok:
            continue
        if slot < causal.warmup:
            seen.append((pos, slot))
        else:  # the newest frame <= `frame` stored in this slot
            g = max(f for f in range(causal.warmup, frame + 1) if ring_slot(f, causal) == slot)
            seen.append((pos, g))
    return sorted(seen)


def test_within_window_positions_are_temporal_order():
    # frame 11: sinks 0..7 at 0..7, frames 8..11 at 8..11
    assert visible_frames(11) == [(p, p) for p in range(12)]
    assert plan_row(11, CAUSAL).query_position == 11


def test_beyond_window_sinks_plus_recent_newest_highest():
    seen = visible_frames(40)
    assert seen[:8] == [(p, p) for p in range(8)]
    assert seen[8:] == [(8 + i, 33 + i) for i in range(8)]  # frames 33..40 at positions 8..15
    assert plan_row(40, CAUSAL).query_position == 15


def test_fill_row_writes_only_scratch_and_sees_only_sinks():
    plan = plan_row(None, CAUSAL)
    assert plan.write_slot == CAUSAL.window
    assert plan.key_valid == tuple([True] * 8 + [False] * 8)


def test_positions_come_from_config_not_literals():
    causal = CausalWindow(window=6, warmup=2)
    plan = plan_row(20, causal)
    assert plan.query_position == 5
    assert sum(plan.key_valid) == 6


def test_row_layouts_are_a_bounded_set_and_tables_match_the_plans():
    state = TemporalAttentionState(CAUSAL, max_rows=3, device=torch.device("cpu"), dtype=torch.float32)
    most = 0
    for t in range(8, 400):
        frames = [f if f >= 8 else None for f in (t, t - 1, t - 2)]
        state.set_stream(0, frames)
        most = max(most, len(state._table_cache))
        for r, f in enumerate(frames):
            plan = plan_row(f, CAUSAL)
            assert state.write_slot[r].item() == plan.write_slot
            assert tuple(state.key_positions[r].tolist()) == plan.key_positions
            assert tuple((state.key_bias[r] == 0).tolist()) == plan.key_valid
            assert state.query_position[r].item() == plan.query_position
    assert most <= 2 * CAUSAL.rolling + 3  # startup layouts + one per ring phase, at every frame


# ---- hand-written tables (worked out on paper from the ring rule, not from plan_row) -------------
# Layout: sinks in slots 0..warmup-1, a ring of window - warmup slots after them, scratch = window.

# window 6, warmup 2 (a 4-slot ring: slots 2..5, scratch 6), one row per call (1 denoising step).
# frame -> (write slot, key position per slot 0..5, visible slots, query position)
W6_S2 = {
    2: (2, [0, 1, 2, 0, 0, 0], [1, 1, 1, 0, 0, 0], 2),
    3: (3, [0, 1, 2, 3, 0, 0], [1, 1, 1, 1, 0, 0], 3),
    4: (4, [0, 1, 2, 3, 4, 0], [1, 1, 1, 1, 1, 0], 4),
    5: (5, [0, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 1], 5),
    6: (2, [0, 1, 5, 2, 3, 4], [1, 1, 1, 1, 1, 1], 5),  # wraps: frame 6 overwrites frame 2's slot
    7: (3, [0, 1, 4, 5, 2, 3], [1, 1, 1, 1, 1, 1], 5),
    8: (4, [0, 1, 3, 4, 5, 2], [1, 1, 1, 1, 1, 1], 5),
    9: (5, [0, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 1], 5),
    10: (2, [0, 1, 5, 2, 3, 4], [1, 1, 1, 1, 1, 1], 5),  # second turn: same as frame 6
    None: (6, [0, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], 0),  # a pipeline-fill row: scratch, sinks only
}

# window 4, warmup 1 (a 3-slot ring: slots 1..3, scratch 4), one row per call.
W4_S1 = {
    1: (1, [0, 1, 0, 0], [1, 1, 0, 0], 1),
    2: (2, [0, 1, 2, 0], [1, 1, 1, 0], 2),
    3: (3, [0, 1, 2, 3], [1, 1, 1, 1], 3),
    4: (1, [0, 3, 1, 2], [1, 1, 1, 1], 3),
    5: (2, [0, 2, 3, 1], [1, 1, 1, 1], 3),
    6: (3, [0, 1, 2, 3], [1, 1, 1, 1], 3),
    7: (1, [0, 3, 1, 2], [1, 1, 1, 1], 3),
    None: (4, [0, 0, 0, 0], [1, 0, 0, 0], 0),
}

# window 5, warmup 2 (a 3-slot ring: slots 2..4, scratch 5), three rows per call (3 steps): the call
# at input frame t holds frames (t, t-1, t-2), fill rows (None) before frame 2 and after the end.
W5_S2_3ROWS = [
    # rows' frames, write slots, query positions
    ((2, None, None), [2, 5, 5], [2, 0, 0]),
    ((3, 2, None), [3, 2, 5], [3, 2, 0]),
    ((4, 3, 2), [4, 3, 2], [4, 3, 2]),
    ((5, 4, 3), [2, 4, 3], [4, 4, 3]),
    ((6, 5, 4), [3, 2, 4], [4, 4, 4]),
    ((7, 6, 5), [4, 3, 2], [4, 4, 4]),
    ((8, 7, 6), [2, 4, 3], [4, 4, 4]),
    ((None, 8, 7), [5, 2, 4], [0, 4, 4]),  # flush
    ((None, None, 8), [5, 5, 2], [0, 0, 4]),
]
W5_S2_FRAME_6_KEYS = [0, 1, 3, 4, 2]  # frames 4, 5, 6 in slots 4, 2, 3 at positions 2, 3, 4


def _one_row_tables(state, frame):
    state.set_stream(0, [frame])
    key_positions, key_bias, query_position, write_slot = state.tables(1)
    visible = [int(b == 0) for b in key_bias[0].tolist()]
    return write_slot.item(), key_positions[0].tolist(), visible, query_position.item()


@pytest.mark.parametrize(("causal", "table"), [(CausalWindow(6, 2), W6_S2), (CausalWindow(4, 1), W4_S1)])
def test_one_row_tables_and_wrap_around_match_the_hand_written_table(causal, table):
    state = TemporalAttentionState(causal, max_rows=1, device=torch.device("cpu"), dtype=torch.float32)
    for frame, expected in table.items():
        assert _one_row_tables(state, frame) == expected, f"frame {frame}"
    # the same answers again (tables come from the per-layout cache the second time)
    for frame, expected in table.items():
        assert _one_row_tables(state, frame) == expected, f"frame {frame}, second time"


def test_three_row_tables_match_the_hand_written_table():
    state = TemporalAttentionState(CausalWindow(5, 2), max_rows=3, device=torch.device("cpu"), dtype=torch.float32)
    for frames, write_slots, query_positions in W5_S2_3ROWS:
        state.set_stream(0, frames)
        key_positions, key_bias, query_position, write_slot = state.tables(3)
        assert write_slot.tolist() == write_slots, frames
        assert query_position.tolist() == query_positions, frames
        if frames[0] == 6:
            assert key_positions[0].tolist() == W5_S2_FRAME_6_KEYS
            assert (key_bias[0] == 0).all()
        for row, frame in enumerate(frames):
            if frame is None:  # fill rows see the two sinks only
                assert (key_bias[row] == 0).tolist() == [True, True, False, False, False]


def _slots_written(stream, before):
    """Per denoising step, the cache slots whose K changed in layer 0 since ``before``."""
    k = stream.cache.layers[0].k
    changed = (k != before).any(dim=(1, 2, 4))  # (steps, W + 1): (steps, HW, heads, W + 1, d) reduced
    return [sorted(torch.nonzero(changed[s]).flatten().tolist()) for s in range(k.shape[0])]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # 1 step: frame f writes slot 2 + (f - 2) % 4; warmup (frames 0, 1) writes the sinks
        (1, {1: [[0, 1]], 2: [[2]], 3: [[3]], 4: [[4]], 5: [[5]], 6: [[2]], 7: [[3]], 8: [[4]], 9: [[5]], 10: [[2]]}),
        # 2 steps: step 0 takes frame f, step 1 frame f - 1 (the scratch slot 6 while it is a fill row)
        (2, {1: [[0, 1], [0, 1]], 2: [[2], [6]], 3: [[3], [2]], 4: [[4], [3]], 5: [[5], [4]], 6: [[2], [5]],
             7: [[3], [2]], 8: [[4], [3]], 9: [[5], [4]], 10: [[2], [5]], "flush": [[6], [2]]}),
    ],
)
def test_the_stream_writes_the_hand_written_slots_of_the_real_cache(tiny, steps, expected):
    """The real KV cache of a streaming tiny model, window 6 / warmup 2: which slots each push wrote."""
    from tests.engine.helpers import frames, make_stream

    stream = make_stream(tiny, steps, dtype=torch.float32, causal=CausalWindow(6, 2))
    inputs = frames(11)
    stream.push(inputs[0])
    assert stream.cache.layers[0].k is None  # nothing is allocated before the warmup frames are complete
    written = {}
    before = None
    for f in range(1, 11):
        if f > 1:
            before = stream.cache.layers[0].k.clone()
        stream.push(inputs[f])
        if before is None:  # warmup: allocated by it, compare against zeros
            before = torch.zeros_like(stream.cache.layers[0].k)
        written[f] = _slots_written(stream, before)
    if "flush" in expected:
        before = stream.cache.layers[0].k.clone()
        stream.flush()
        written["flush"] = _slots_written(stream, before)
    assert written == expected


# ---- the cache object itself ---------------------------------------------------------------------


def test_a_layer_cache_is_allocated_once_with_the_scratch_slot_in_the_asked_dtype():
    layer = LayerKVCache(num_steps=3, causal=CausalWindow(6, 2))
    assert layer.nbytes == 0
    with pytest.raises(RuntimeError, match="^KV cache read before the warmup pass allocated it: run warmup first$"):
        layer.tensors()
    layer.ensure(hw=5, heads=2, head_dim=4, dtype=torch.float64, device=torch.device("cpu"))
    k, v = layer.tensors()
    assert k.shape == v.shape == (3, 5, 2, 7, 4)  # (steps, HW, heads, window + 1 scratch slot, d)
    assert k.dtype == v.dtype == torch.float64 and k.device.type == "cpu"
    assert layer.nbytes == 2 * 3 * 5 * 2 * 7 * 4 * 8
    pointers = (k.data_ptr(), v.data_ptr())
    layer.ensure(hw=5, heads=2, head_dim=4, dtype=torch.float64, device=torch.device("cpu"))
    assert (layer.tensors()[0].data_ptr(), layer.tensors()[1].data_ptr()) == pointers  # same shape: kept


def test_sinks_rows_step_views_and_zero_write_where_they_say():
    causal = CausalWindow(6, 2)
    cache = TemporalKVCache(num_layers=2, num_steps=3, causal=causal)
    kv = [(torch.full((5, 2, 2, 4), 1.0 + i), torch.full((5, 2, 2, 4), -1.0 - i)) for i in range(2)]
    with pytest.raises(ValueError, match="expected K/V of 2 layers, got 1"):
        cache.write_sinks(0, kv[:1])
    with pytest.raises(ValueError, match="warmup K/V must cover exactly 2 frames, got 3"):
        cache.write_sinks(0, [(torch.zeros(5, 2, 3, 4), torch.zeros(5, 2, 3, 4))] * 2)
    cache.write_sinks(1, kv)  # step 1's sinks: slots 0 and 1
    k0, v0 = cache.layers[0].tensors()
    assert (k0[1, :, :, :2] == 1).all() and (v0[1, :, :, :2] == -1).all()
    assert (k0[0] == 0).all() and (k0[2] == 0).all() and (k0[1, :, :, 2:] == 0).all()
    assert cache.nbytes == 2 * 2 * 3 * 5 * 2 * 7 * 4 * 4
    full = cache.step_views(0, 3)
    assert [t.data_ptr() for t in full] == [t.data_ptr() for t in cache.tensors()] and len(full) == 4
    one = cache.step_views(1, 1)  # a one-row call at step 1 sees step 1's slots only
    assert [t.shape[0] for t in one] == [1, 1, 1, 1] and one[0].data_ptr() == k0[1].data_ptr()
    first = cache.step_views(0, 1)
    assert [t.shape[0] for t in first] == [1, 1, 1, 1] and first[0].data_ptr() == k0.data_ptr()
    two = cache.step_views(1, 2)
    assert two[0].shape[0] == 2 and two[0].data_ptr() == k0[1].data_ptr()
    # rows 0, 1 (steps 1, 2) write their new K/V into slots 4 and 6 (scratch) of their own step
    new = [torch.full((2, 5, 2, 4), 7.0)] * 4
    with pytest.raises(ValueError, match="shorter"):  # one new-row tensor per cache tensor: a short list is an error
        write_rows(two, new[:3], torch.arange(2), torch.tensor([4, 6]))
    write_rows(two, new, torch.arange(2), torch.tensor([4, 6]))
    assert (k0[1, :, :, 4] == 7).all() and (k0[2, :, :, 6] == 7).all()
    assert (k0[1, :, :, 6] == 0).all() and (k0[2, :, :, 4] == 0).all() and (k0[0] == 0).all()
    pointers = [t.data_ptr() for t in cache.tensors()]
    cache.zero_()
    assert all((t == 0).all() for t in cache.tensors()) and [t.data_ptr() for t in cache.tensors()] == pointers


def test_bad_frames_and_row_counts_are_refused_by_value():
    causal = CausalWindow(6, 2)
    with pytest.raises(ValueError, match=r"frame 1 is a sink frame \(warmup=2\); it has no ring slot"):
        ring_slot(1, causal)
    with pytest.raises(ValueError, match=r"frame 0 belongs to warmup \(warmup=2\); stream rows start at frame 2"):
        plan_row(0, causal)
    state = TemporalAttentionState(causal, max_rows=2, device=torch.device("cpu"), dtype=torch.float32)
    for frames in ([], [2, 3, 4]):
        with pytest.raises(ValueError, match=f"a stream call takes 1..2 rows, got {len(frames)}"):
            state.set_stream(0, frames)


def test_the_state_describes_each_call_and_its_tables_are_built_once_per_layout():
    state = TemporalAttentionState(CausalWindow(6, 2), max_rows=3, device=torch.device("cpu"), dtype=torch.float64)
    state.set_warmup(2)
    assert (state.mode, state.step_start, state.rows, state.row_frames) == ("warmup", 2, 1, [0, 1])
    state.set_stream(1, [7, None])
    assert (state.mode, state.step_start, state.rows, state.row_frames) == ("stream", 1, 2, [7, None])
    key_positions, key_bias, query_position, write_slot = state.tables(2)
    assert key_bias.dtype == torch.float64 and key_positions.dtype == write_slot.dtype == torch.long
    assert key_bias[1].tolist() == [0.0, 0.0] + [float("-inf")] * 4  # a fill row: the sinks only
    built = state._tables((7, None))
    assert all(a is b for a, b in zip(built, state._tables((7, None)), strict=True))  # cached, not rebuilt
    assert all(a is b for a, b in zip(built, state._tables((11, None)), strict=True))  # same ring phase, window full


def test_the_table_cache_is_bounded_whatever_the_caller_asks():
    """More distinct row layouts than the bound (9 kinds of row, 3 rows: 729): the cache holds at
    most 4 x window + 4 x max_rows of them at any time, and does reach that."""
    causal = CausalWindow(6, 2)
    state = TemporalAttentionState(causal, max_rows=3, device=torch.device("cpu"), dtype=torch.float32)
    most = 0
    for frames in itertools.product([None, 2, 3, 4, 5, 6, 7, 8, 9], repeat=3):
        state.set_stream(0, frames)
        most = max(most, len(state._table_cache))
    assert most == 4 * 6 + 4 * 3
