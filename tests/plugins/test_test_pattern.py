"""test_pattern source: paced, counted, moving frames."""

from __future__ import annotations

import numpy as np

from plugins.test_pattern import TestPatternSource


def test_frames_have_strictly_increasing_pts_and_seq_and_move() -> None:
    source = TestPatternSource.create({"width": 96, "height": 64, "fps": 200})
    source.open()
    frames = [source.read(timeout=1.0) for _ in range(6)]
    source.close()
    assert all(f is not None for f in frames)
    assert [f.seq for f in frames] == list(range(6))  # type: ignore[union-attr]
    pts = [f.pts_ns for f in frames]  # type: ignore[union-attr]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    assert frames[0].image.shape == (64, 96, 3) and frames[0].image.dtype == np.uint8  # type: ignore[union-attr]
    assert not np.array_equal(frames[0].image, frames[1].image)  # type: ignore[union-attr]
    assert source.fps == 200


def test_read_returns_none_when_the_next_frame_is_not_due_within_timeout() -> None:
    source = TestPatternSource.create({"width": 32, "height": 32, "fps": 1})
    source.open()
    assert source.read(timeout=0.5) is not None  # the first frame is due at once
    assert source.read(timeout=0.01) is None  # the next is a second away
    source.close()
    source.close()
