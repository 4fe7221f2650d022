"""The output stage fills every slot: live, held while the engine works, passthrough, no signal.

A real shared-memory output ring and sink keeper; the source stage and engine keeper are stand-ins
with the few fields the stage reads, so each case sets exactly the state it is about."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from live2diff_broadcast.config import OutputSection
from live2diff_broadcast.media.backoff import Backoff
from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.plugin_api import PluginSettings
from live2diff_broadcast.runtime.output_stage import OutputStage
from live2diff_broadcast.runtime.sink_keeper import SinkKeeper
from live2diff_broadcast.runtime.source_stage import Latest
from live2diff_broadcast.runtime.telemetry import StreamState, Telemetry
from live2diff_broadcast.runtime.transport import FrameRing, new_run_prefix
from tests.runtime.harness import RecordingSink

SIZE = (36, 64)
S = 1_000_000_000
CTX = multiprocessing.get_context("spawn")


@dataclass
class StubSource:
    frame: Frame | None = None
    at_ns: int = 0
    ended_at: float | None = None

    def latest(self) -> Latest:
        return Latest(self.frame, self.at_ns)

    def deliver(self, value: int) -> None:
        self.frame, self.at_ns = Frame(np.full((*SIZE, 3), value, np.uint8), now_ns(), value), now_ns()


@dataclass
class StubEngine:
    generation: int = 1
    working: bool = True
    progress_at: int = 0
    engine: object | None = "process"
    state: str = "live"


@pytest.fixture
def rig() -> Iterator[tuple[OutputStage, FrameRing, RecordingSink, Telemetry]]:
    prefix = new_run_prefix()
    in_ring = FrameRing.create(f"{prefix}-in", SIZE, CTX)
    out_ring = FrameRing.create(f"{prefix}-out", SIZE, CTX)
    sink, telemetry = RecordingSink(PluginSettings()), Telemetry()
    keeper = SinkKeeper(lambda: sink, telemetry, Backoff(0.1, 1.0))
    keeper.open(sink, *SIZE, 30.0)
    stage = OutputStage(SIZE, in_ring, out_ring, keeper, telemetry, OutputSection(hold_s=2.0))
    yield stage, out_ring, sink, telemetry
    for ring in (in_ring, out_ring):
        ring.close()
        ring.unlink()


def _engine_output(ring: FrameRing, value: int, index: int) -> None:
    ring.write(np.full((*SIZE, 3), value, np.uint8), now_ns(), index, index)


def test_every_tick_writes_live_then_held_while_the_engine_works(rig) -> None:  # type: ignore[no-untyped-def]
    stage, out_ring, sink, telemetry = rig
    source, engine = StubSource(), StubEngine(progress_at=now_ns())
    source.deliver(10)
    _engine_output(out_ring, 200, 7)
    assert stage.tick([1 * S], source, engine, False) == 7  # a new engine frame: live, its index reported
    for k in range(2, 6):  # the engine re-warms (progress, no frame): the last frame held in every slot
        source.deliver(10 + k)
        engine.progress_at = now_ns()
        assert stage.tick([k * S], source, engine, False) is None
    assert [int(f.image[0, 0, 0]) for f in sink.frames] == [200] * 5
    assert [f.pts_ns for f in sink.frames] == [k * S for k in range(1, 6)]
    snap = telemetry.snapshot()
    assert (snap.live_frames, snap.held_frames, snap.passthrough_frames) == (1, 4, 0)
    assert snap.state is StreamState.HOLDING and snap.longest_hold_ms == 4000.0


def test_no_progress_for_the_hold_limit_or_a_dead_engine_means_the_camera(rig) -> None:  # type: ignore[no-untyped-def]
    stage, out_ring, sink, telemetry = rig
    source, engine = StubSource(), StubEngine(progress_at=now_ns())
    source.deliver(10)
    _engine_output(out_ring, 200, 0)
    stage.tick([1 * S], source, engine, False)
    engine.progress_at = now_ns() - 3 * S  # stuck for 3 s > hold_s 2 s
    stage.tick([2 * S], source, engine, False)
    assert telemetry.snapshot().state is StreamState.PASSTHROUGH  # the camera, captioned "engine stalled"
    engine.progress_at, engine.engine, engine.working = now_ns(), None, False  # died: at once
    stage.tick([3 * S], source, engine, False)
    assert telemetry.snapshot().state is StreamState.RESTARTING
    assert telemetry.snapshot().passthrough_frames == 2
    assert int(sink.frames[1].image[0, 0, 0]) == 10  # the camera picture (the caption is at the bottom)


def test_a_late_tick_fills_every_missed_slot_with_one_picture(rig) -> None:  # type: ignore[no-untyped-def]
    stage, out_ring, sink, telemetry = rig
    source, engine = StubSource(), StubEngine(progress_at=now_ns())
    source.deliver(10)
    _engine_output(out_ring, 99, 3)
    assert stage.tick([1, 2, 3], source, engine, False) == 3
    assert [f.pts_ns for f in sink.frames] == [1, 2, 3] and [f.seq for f in sink.frames] == [0, 1, 2]
    snap = telemetry.snapshot()
    assert (snap.live_frames, snap.held_frames) == (1, 2)


def test_a_new_engine_never_shows_the_old_ones_frame(rig) -> None:  # type: ignore[no-untyped-def]
    stage, out_ring, sink, telemetry = rig
    source, engine = StubSource(), StubEngine(progress_at=now_ns())
    source.deliver(10)
    _engine_output(out_ring, 200, 0)
    stage.tick([1], source, engine, False)
    engine.generation, engine.state = 2, "warming_up"  # restarted, still warming up
    stage.tick([2], source, engine, False)
    assert telemetry.snapshot().state is StreamState.WARMING_UP and int(sink.frames[1].image[0, 0, 0]) == 10


def test_a_lost_source_gives_no_signal_cards_and_forced_passthrough_shows_the_camera(rig) -> None:  # type: ignore[no-untyped-def]
    stage, out_ring, sink, telemetry = rig
    source, engine = StubSource(), StubEngine(progress_at=now_ns())
    source.deliver(10)
    assert stage.tick([1], source, engine, True) is None  # forced: the camera as it is, no caption
    assert (sink.frames[0].image == 10).all()
    source.at_ns = now_ns() - 1 * S  # nothing for 1 s > no_signal_after_s 0.5 s
    stage.tick([2], source, engine, False)
    snap = telemetry.snapshot()
    assert snap.state is StreamState.NO_SIGNAL and snap.no_signal_frames == 1
    assert sink.frames[1].image.shape == (*SIZE, 3)


def test_a_frame_the_sink_cannot_take_is_not_counted_as_written(rig) -> None:  # type: ignore[no-untyped-def]
    stage, out_ring, sink, telemetry = rig
    stage.sink.close("test")
    stage.sink._retry_at = float("inf")  # down, no reopen yet
    source, engine = StubSource(), StubEngine(progress_at=now_ns())
    source.deliver(10)
    stage.tick([1], source, engine, False)
    assert telemetry.snapshot().frames_out == 0 and sink.frames == []
