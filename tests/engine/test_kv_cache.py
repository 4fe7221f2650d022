from live2diff_broadcast.engine.config import CausalWindow
from live2diff_broadcast.engine.kv_cache import plan_row, ring_slot

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
    import torch

    from live2diff_broadcast.engine.kv_cache import TemporalAttentionState

    state = TemporalAttentionState(CAUSAL, max_rows=3, device=torch.device("cpu"), dtype=torch.float32)
    for t in range(8, 400):
        frames = [f if f >= 8 else None for f in (t, t - 1, t - 2)]
        state.set_stream(0, frames)
        for r, f in enumerate(frames):
            plan = plan_row(f, CAUSAL)
            assert state.write_slot[r].item() == plan.write_slot
            assert tuple(state.key_positions[r].tolist()) == plan.key_positions
            assert tuple((state.key_bias[r] == 0).tolist()) == plan.key_valid
            assert state.query_position[r].item() == plan.query_position
    assert len(state._table_cache) <= 2 * CAUSAL.rolling + 3  # startup layouts + one per ring phase
