"""The supervisor keeps the sink fed: passthrough while the engine loads or dies, reconnects, clean exit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.plugin_api import PluginError, PluginSettings, Sink, Source
from live2diff_broadcast.runtime.supervisor import Supervisor, SupervisorOptions
from live2diff_broadcast.runtime.telemetry import StreamState
from live2diff_broadcast.runtime.transport import leftover_segments

SIZE = 64


class FakeSource(Source):
    """80x48 frames at 60 fps; the first ``failing`` instances raise after ``fail_after`` frames."""

    name = "fake"
    plan: dict[str, int] = {}

    def open(self) -> None:
        if self.plan.get("refuse_open"):
            raise PluginError("source 'fake': no such device (test)")
        self.seq = 0
        self.next_at = time.monotonic()
        self.fail_after = self.plan.get("fail_after") if self.plan.get("failing", 0) > 0 else None
        self.plan["failing"] = self.plan.get("failing", 0) - 1

    @property
    def fps(self) -> float:
        return 60.0

    def read(self, timeout: float) -> Frame | None:
        if self.fail_after is not None and self.seq >= self.fail_after:
            raise RuntimeError("cable pulled (test)")
        delay = self.next_at - time.monotonic()
        if delay > timeout:
            time.sleep(timeout)
            return None
        time.sleep(max(0.0, delay))
        self.next_at += 1 / 60
        image = np.full((48, 80, 3), self.seq % 256, np.uint8)
        frame = Frame(image, now_ns(), self.seq)
        self.seq += 1
        return frame


class RecordingSink(Sink):
    name = "recording"

    def __init__(self, settings: PluginSettings) -> None:
        super().__init__(settings)
        self.frames: list[Frame] = []
        self.opened: tuple[int, int, float] | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        self.opened = (width, height, fps)

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)


def _profile() -> Profile:
    return Profile(engine={"width": SIZE, "height": SIZE, "device": "cpu"})


class Running:
    """A supervisor running in a thread, with bounded waits on what it shows."""

    def __init__(self, model: str, plan: dict[str, int] | None = None, **options: object) -> None:
        FakeSource.plan = dict(plan or {})
        self.sink = RecordingSink(PluginSettings())
        opts = SupervisorOptions(model=model, backoff_initial_s=0.2, backoff_max_s=1.0, **options)  # type: ignore[arg-type]
        self.sup = Supervisor(_profile(), lambda: FakeSource(PluginSettings()), lambda: self.sink, options=opts)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sup.run(duration=120)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.error is None, f"supervisor failed: {self.error!r}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.sup.telemetry.snapshot()}"
            time.sleep(0.05)

    def engine_frames(self) -> int:
        snap = self.sup.telemetry.snapshot()
        return snap.frames_out - snap.passthrough_frames

    def stop(self) -> None:
        engine_pid = self.sup.engine_pid
        self.sup.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "supervisor did not shut down within 30 s"
        assert self.error is None, f"supervisor failed: {self.error!r}"
        assert multiprocessing.active_children() == []
        if engine_pid is not None:
            with pytest.raises(ProcessLookupError):
                os.kill(engine_pid, 0)
        assert leftover_segments(self.sup.prefix) == []
        assert self.sink._closed, "the sink was not closed"
        pts = [f.pts_ns for f in self.sink.frames]
        assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "sink timestamps not strictly increasing"
        assert all(f.image.shape == (SIZE, SIZE, 3) for f in self.sink.frames)


def test_passthrough_until_the_engine_is_live_then_engine_frames() -> None:
    run = Running("passthrough")
    try:
        run.wait("passthrough frames", lambda: run.sup.telemetry.snapshot().passthrough_frames > 0)
        run.wait("engine frames", lambda: run.engine_frames() > 10)
        assert run.sup.telemetry.snapshot().state is StreamState.LIVE
        assert run.sink.opened == (SIZE, SIZE, 60.0)
    finally:
        run.stop()
    seqs = [f.seq for f in run.sink.frames]
    assert seqs == list(range(len(seqs)))


def test_killed_engine_means_passthrough_then_live_again() -> None:
    run = Running("diffusion")
    try:
        run.wait("engine live", lambda: run.engine_frames() > 5)
        snap = run.sup.telemetry.snapshot()  # on a CPU 'auto' runs eager PyTorch, and telemetry says so
        assert (snap.backend, snap.backend_fallback) == ("pytorch", None)
        assert "backend pytorch" in snap.status_line()
        pid = run.sup.engine_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        before = run.sup.telemetry.snapshot()
        run.wait("restart", lambda: run.sup.telemetry.snapshot().engine_restarts >= 1)
        run.wait("passthrough after the kill",
                 lambda: run.sup.telemetry.snapshot().passthrough_frames > before.passthrough_frames + 10)
        engine_before = run.engine_frames()
        run.wait("live again", lambda: run.engine_frames() > engine_before + 5)
        assert run.sup.engine_pid != pid
    finally:
        run.stop()


def test_a_source_that_fails_reconnects_and_the_sink_keeps_going() -> None:
    run = Running("passthrough", plan={"fail_after": 30, "failing": 1})
    try:
        run.wait("reconnect", lambda: run.sup.telemetry.snapshot().source_reconnects >= 1)
        count = len(run.sink.frames)
        run.wait("frames after the reconnect", lambda: len(run.sink.frames) > count + 30)
        # the second connection's frames start again at seq 0 and reach the sink
        run.wait("fresh source frames", lambda: run.sup.telemetry.snapshot().frames_in > 60)
    finally:
        run.stop()


def test_a_source_that_never_opens_gives_no_signal_frames_and_stops_cleanly() -> None:
    run = Running("passthrough", plan={"refuse_open": 1})
    try:
        run.wait("no-signal frames", lambda: len(run.sink.frames) > 5)
        assert run.sup.telemetry.snapshot().state is StreamState.NO_SIGNAL
        assert run.sup.telemetry.snapshot().source_reconnects >= 1
    finally:
        run.stop()


class FlakySink(RecordingSink):
    """The first instance fails every write from its 10th on (a device that went away)."""

    made: list[FlakySink] = []

    def write(self, frame: Frame) -> None:
        if self is FlakySink.made[0] and len(self.frames) >= 10:
            raise OSError("device gone (test)")
        super().write(frame)


def _flaky_sink() -> FlakySink:
    sink = FlakySink(PluginSettings())
    FlakySink.made.append(sink)
    return sink


def test_a_sink_that_keeps_failing_is_reopened_and_output_resumes() -> None:
    FlakySink.made = []
    FakeSource.plan = {}
    opts = SupervisorOptions(model="passthrough", backoff_initial_s=0.1, backoff_max_s=0.5)
    sup = Supervisor(_profile(), lambda: FakeSource(PluginSettings()), _flaky_sink, options=opts)
    runner = threading.Thread(target=sup.run, kwargs={"duration": 60}, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while len(FlakySink.made) < 2 or len(FlakySink.made[1].frames) < 20:
            assert time.monotonic() < deadline, f"sink never came back: {sup.telemetry.snapshot()}"
            time.sleep(0.05)
    finally:
        sup.stop()
        runner.join(30)
    first, second = FlakySink.made[:2]
    assert first._closed and len(first.frames) == 10
    assert second.opened == (SIZE, SIZE, 60.0) and second._closed
    assert sup.telemetry.snapshot().sink_reopens >= 1
    assert leftover_segments(sup.prefix) == []
