"""The hand-off to a sink's thread: every owed slot once, the newest picture, bounded."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.runtime.slot_mailbox import SlotMailbox


def frame(pts: int) -> Frame:
    return Frame(np.full((2, 2, 3), pts, np.uint8), pts, pts)


def test_a_late_taker_gets_every_owed_slot_with_the_newest_picture() -> None:
    box = SlotMailbox(max_owed=5)
    for pts in (1, 2, 3):
        box.put(frame(pts))
    taken = [box.take(0.0) for _ in range(3)]
    assert [f.pts_ns for f in taken if f is not None] == [1, 2, 3]
    assert all(f is not None and int(f.image[0, 0, 0]) == 3 for f in taken)  # no stale picture on air
    assert box.take(0.0) is None and box.missed == 0


def test_past_max_owed_the_oldest_slots_are_given_up_and_counted() -> None:
    box = SlotMailbox(max_owed=2)
    for pts in range(1, 6):
        box.put(frame(pts))
    assert box.missed == 3 and box.owed == 2
    assert [box.take(0.0).pts_ns for _ in range(2)] == [4, 5]  # type: ignore[union-attr]


def test_close_hands_out_what_is_owed_then_nothing() -> None:
    box = SlotMailbox(max_owed=4)
    box.put(frame(1))
    box.close()
    box.put(frame(2))  # after close: ignored
    assert box.take(0.0).pts_ns == 1  # type: ignore[union-attr]
    assert box.take(10.0) is None  # closed and empty: at once, no wait


def test_take_wakes_on_put() -> None:
    box = SlotMailbox(max_owed=1)
    got: list[Frame | None] = []
    taker = threading.Thread(target=lambda: got.append(box.take(60.0)))
    taker.start()
    box.put(frame(7))
    taker.join(60)
    assert not taker.is_alive() and got[0] is not None and got[0].pts_ns == 7


def test_max_owed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_owed"):
        SlotMailbox(0)
