"""The engine process: original pts carried through by frame index, states reported, control handled."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.engine.translator import ModelKind
from live2diff_broadcast.runtime.engine_process import EngineProcess
from live2diff_broadcast.runtime.messages import (
    EngineSpec,
    EngineState,
    Flush,
    FrameEvent,
    Reset,
    StateEvent,
    StatsEvent,
)
from live2diff_broadcast.runtime.transport import FrameRing, RingFrame, leftover_segments, new_run_prefix

CTX = multiprocessing.get_context("spawn")
SIZE = 64


class Harness:
    def __init__(self, model: ModelKind) -> None:
        self.prefix = new_run_prefix()
        self.inp = FrameRing.create(f"{self.prefix}-in", (SIZE, SIZE), CTX)
        self.out = FrameRing.create(f"{self.prefix}-out", (SIZE, SIZE), CTX)
        profile = Profile(engine={"width": SIZE, "height": SIZE, "device": "cpu"})
        spec = EngineSpec(profile.model_dump(), None, self.inp.handle, self.out.handle, model=model)
        self.engine = EngineProcess(spec, CTX)
        self.events: list[Any] = []

    def states(self) -> list[EngineState]:
        return [e.state for e in self.events if isinstance(e, StateEvent)]

    def wait_state(self, state: EngineState, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while state not in self.states():
            assert time.monotonic() < deadline, f"engine never reached {state}; states {self.states()}"
            assert self.engine.is_alive(), f"engine died with exit code {self.engine.process.exitcode}"
            self.events += self.engine.events(timeout=0.1)

    def push(self, image: np.ndarray, pts_ns: int, seq: int) -> list[RingFrame]:
        """Write one frame, wait until the engine took it and handled it, return its outputs."""
        self.inp.write(image, pts_ns, seq)
        deadline = time.monotonic() + 30
        while self.inp.stats().consumed < self.inp.stats().published:
            assert time.monotonic() < deadline, "engine never read the frame"
            time.sleep(0.005)
        outputs: list[RingFrame] = []
        quiet_until = time.monotonic() + 0.15  # outputs follow within the engine's push
        while time.monotonic() < quiet_until:
            got = self.out.read(timeout=0.05)
            if got is not None:
                outputs.append(got)
                quiet_until = time.monotonic() + 0.15
        self.events += self.engine.events()
        return outputs

    def close(self) -> None:
        self.events += self.engine.stop("test over", timeout=10)
        for ring in (self.inp, self.out):
            ring.close()
            ring.unlink()
        assert leftover_segments(self.prefix) == []


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = Harness(request.param)
    h.engine.start()
    try:
        yield h
    finally:
        h.close()


def _frame(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


@pytest.mark.parametrize("harness", ["passthrough"], indirect=True)
def test_passthrough_engine_returns_each_frame_with_its_pts(harness: Harness) -> None:
    harness.wait_state(EngineState.WARMING_UP)
    for i in range(5):
        outs = harness.push(_frame(i), pts_ns=5_000 + 7 * i, seq=i)
        assert len(outs) == 1
        np.testing.assert_array_equal(outs[0].image, _frame(i))
        assert (outs[0].pts_ns, outs[0].seq, outs[0].frame_index) == (5_000 + 7 * i, i, i)
    harness.close()
    stats = [e for e in harness.events if isinstance(e, StatsEvent)]
    assert stats and stats[0].frames_in == 5 and stats[0].frames_out == 5
    assert harness.states()[-1] is EngineState.STOPPED
    assert not harness.engine.is_alive()


@pytest.mark.parametrize("harness", ["diffusion"], indirect=True)
def test_tiny_diffusion_engine_maps_outputs_to_original_pts(harness: Harness) -> None:
    harness.wait_state(EngineState.WARMING_UP)
    pts = {i: 1_000_000 + 33_000_000 * i for i in range(14)}
    got: list[RingFrame] = []
    for i in range(14):
        outs = harness.push(_frame(i), pts[i], seq=i)
        if i < 7:
            assert outs == [], f"output before warmup completed (frame {i})"
        got += outs
    assert harness.states()[:3] == [EngineState.LOADING, EngineState.WARMING_UP, EngineState.LIVE]
    # the 8 warmup frames are emitted together (the ring keeps the newest); then one per input, n-1 behind
    assert got, "no output after warmup"
    for out in got:
        assert out.pts_ns == pts[out.frame_index] and out.seq == out.frame_index
        assert out.image.shape == (SIZE, SIZE, 3) and out.image.dtype == np.uint8
    assert [o.pts_ns for o in got] == sorted({o.pts_ns for o in got})  # strictly increasing
    frame_events = [e for e in harness.events if isinstance(e, FrameEvent)]
    assert all(e.latency_ns > 0 for e in frame_events)
    # reset: back to warming up, live again after the next warmup frames
    harness.engine.send(Reset())
    outs = harness.push(_frame(99), pts[13] + 1, seq=99)
    assert all(o.frame_index < 14 for o in outs)  # frame 99 may reach the old stream before the Reset: 13 at most
    deadline = time.monotonic() + 30
    while harness.states()[-1] is not EngineState.WARMING_UP:
        assert time.monotonic() < deadline, f"engine never went back to warming up; states {harness.states()}"
        harness.events += harness.engine.events(timeout=0.1)
    for i in range(100, 108):
        harness.push(_frame(i), pts[13] + i, seq=i)
    deadline = time.monotonic() + 60  # the warmup pass may outlast push()'s quiet period on a busy machine
    while harness.states()[-1] is not EngineState.LIVE:
        assert time.monotonic() < deadline, f"engine never went live again; states {harness.states()}"
        harness.events += harness.engine.events(timeout=0.1)


@pytest.mark.parametrize("harness", ["diffusion"], indirect=True)
def test_flush_emits_the_frames_still_in_the_pipeline(harness: Harness) -> None:
    harness.wait_state(EngineState.WARMING_UP)
    last = -1
    for i in range(11):
        for out in harness.push(_frame(i), 1_000 + i, seq=i):
            last = max(last, out.frame_index)
    deadline = time.monotonic() + 30
    while last < 9:  # on a busy machine outputs may trail push()'s quiet period
        assert time.monotonic() < deadline, f"frame 9 never came out (last {last})"
        got = harness.out.read(timeout=0.1)
        last = max(last, got.frame_index) if got is not None else last
    assert harness.out.read(timeout=1.0) is None  # 2 steps: frame 10 stays in the pipeline
    harness.engine.send(Flush())
    deadline = time.monotonic() + 30
    flushed: list[RingFrame] = []
    while not flushed and time.monotonic() < deadline:
        got = harness.out.read(timeout=0.1)
        if got is not None:
            flushed.append(got)
    assert [o.frame_index for o in flushed] == [10] and flushed[0].pts_ns == 1_010
