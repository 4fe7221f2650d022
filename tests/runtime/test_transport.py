"""FrameRing: exact pixels, latest frame wins, drops counted on both sides, nothing left in /dev/shm."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from live2diff_broadcast.runtime.transport import (
    ControlChannel,
    FrameRing,
    RingHandle,
    TransportError,
    leftover_segments,
    new_run_prefix,
)

CTX = multiprocessing.get_context("spawn")


@pytest.fixture
def ring():
    r = FrameRing.create(f"{new_run_prefix()}-t", (48, 64), CTX, slots=3)
    yield r
    r.close()
    r.unlink()


def _image(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_pixels_and_timing_read_back_exactly(ring: FrameRing) -> None:
    reader = FrameRing.attach(ring.handle)
    try:
        for i, (h, w) in enumerate([(48, 64), (16, 20), (47, 63)]):
            ring.write(_image(i, h, w), pts_ns=1_000 + i, seq=i, frame_index=10 + i)
            got = reader.read(timeout=1.0)
            assert got is not None
            np.testing.assert_array_equal(got.image, _image(i, h, w))
            assert (got.pts_ns, got.seq, got.frame_index) == (1_000 + i, i, 10 + i)
            assert got.image.flags.c_contiguous and got.image.base is not ring  # a private copy
        assert ring.stats().writer_drops == 0 and ring.stats().reader_drops == 0
    finally:
        reader.close()


def test_latest_frame_wins_and_drops_are_counted_on_both_sides(ring: FrameRing) -> None:
    reader = FrameRing.attach(ring.handle)
    try:
        for i in range(5):
            ring.write(_image(i), pts_ns=i + 1, seq=i)
        got = reader.read(timeout=1.0)
        assert got is not None and got.seq == 4
        np.testing.assert_array_equal(got.image, _image(4))
        stats = ring.stats()
        assert stats.writer_drops == 4  # overwritten before anyone read them
        assert stats.reader_drops == 4  # skipped to get to the newest
        assert reader.poll() is None  # nothing new: no repeat
    finally:
        reader.close()


def test_read_times_out_without_a_frame(ring: FrameRing) -> None:
    reader = FrameRing.attach(ring.handle)
    try:
        started = time.monotonic()
        assert reader.read(timeout=0.1) is None
        assert time.monotonic() - started < 2.0
    finally:
        reader.close()


def test_wrong_frames_are_refused_with_the_expected_shape(ring: FrameRing) -> None:
    with pytest.raises(TransportError, match=r"expected \(H<=48, W<=64, 3\) uint8"):
        ring.write(np.zeros((49, 64, 3), np.uint8), 1, 0)
    with pytest.raises(TransportError, match="float32"):
        ring.write(np.zeros((8, 8, 3), np.float32), 1, 0)


def _child_writer(handle: RingHandle, conn) -> None:  # runs in a spawned process
    ring = FrameRing.attach(handle)
    channel = ControlChannel(conn)
    for i in range(20):
        ring.write(_image(100 + i), pts_ns=10_000 + i, seq=i, frame_index=i)
        channel.receive_all(timeout=2.0)  # wait for the parent's ack before the next frame
    ring.close()


def test_frames_cross_processes_exactly(ring: FrameRing) -> None:
    parent, child = CTX.Pipe()
    proc = CTX.Process(target=_child_writer, args=(ring.handle, child))
    proc.start()
    channel = ControlChannel(parent)
    try:
        for i in range(20):
            got = ring.read(timeout=20.0)  # the creator can read too
            assert got is not None, f"frame {i} never arrived"
            assert (got.seq, got.pts_ns) == (i, 10_000 + i)
            np.testing.assert_array_equal(got.image, _image(100 + i))
            channel.send("ack")
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == 0


def test_unlink_leaves_nothing_in_dev_shm() -> None:
    prefix = new_run_prefix()
    ring = FrameRing.create(f"{prefix}-x", (8, 8), CTX)
    assert leftover_segments(prefix) == [f"{prefix}-x"]
    ring.close()
    ring.unlink()
    ring.unlink()  # idempotent
    assert leftover_segments(prefix) == []
    with pytest.raises(TransportError, match="no such shared-memory segment"):
        FrameRing.attach(ring.handle)
