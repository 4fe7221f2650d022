"""The output grid: one slot per 1/fps, each due once, late ticks repeat, a freeze is counted."""

from __future__ import annotations

import pytest

from live2diff_broadcast.runtime.output_clock import OutputClock

MS = 1_000_000


def test_each_slot_is_due_once_with_its_grid_time() -> None:
    clock = OutputClock(30.0, start_ns=1_000 * MS)
    assert clock.due(1_000 * MS) == [1_000 * MS]
    assert clock.due(1_010 * MS) == []  # woke early: nothing new
    assert clock.due(1_034 * MS) == [1_000 * MS + 33_333_333]
    assert clock.next_due_ns() == 1_000 * MS + 66_666_667


def test_a_late_tick_gets_every_slot_it_missed() -> None:
    clock = OutputClock(30.0, start_ns=0)
    clock.due(0)
    slots = clock.due(200 * MS)  # 200 ms late: slots 1..6
    assert len(slots) == 6 and slots == sorted(set(slots))
    assert clock.skipped == 0


def test_a_freeze_longer_than_the_catch_up_bound_is_counted_not_burst() -> None:
    clock = OutputClock(10.0, start_ns=0, max_catch_up_s=1.0)
    clock.due(0)
    slots = clock.due(5_000 * MS)  # 5 s frozen: slots 1..50, at most 10 written
    assert len(slots) == 10 and slots[-1] == 5_000 * MS
    assert clock.skipped == 40


@pytest.mark.parametrize("fps", [0.0, -30.0, float("nan"), float("inf")])
def test_a_rate_that_is_not_a_positive_number_is_refused(fps: float) -> None:
    with pytest.raises(ValueError, match="positive number of frames per second"):
        OutputClock(fps, start_ns=0)
