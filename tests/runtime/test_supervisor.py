"""The supervisor keeps the sink fed: passthrough while the engine loads or dies, reconnects, clean exit."""

from __future__ import annotations

import os
import signal
import threading
import time

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginSettings
from live2diff_broadcast.runtime.supervisor import Supervisor, SupervisorOptions
from live2diff_broadcast.runtime.telemetry import StreamState
from live2diff_broadcast.runtime.transport import leftover_segments
from tests.runtime.harness import SIZE, FakeSource, RecordingSink, Show, small_profile


def running(model: str, plan: dict[str, int] | None = None, hold_s: float | None = None) -> Show:
    return Show(model=model, plan=plan, duration=120, backoff_initial_s=0.2, backoff_max_s=1.0, hold_s=hold_s)


def test_passthrough_until_the_engine_is_live_then_engine_frames() -> None:
    run = running("passthrough")
    try:
        run.wait("passthrough frames", lambda: run.sup.telemetry.snapshot().passthrough_frames > 0)
        run.wait("engine frames", lambda: run.engine_frames() > 10)
        assert run.sup.telemetry.snapshot().state in (StreamState.LIVE, StreamState.HOLDING)
        assert run.sink.opened == (SIZE, SIZE, 60.0)
    finally:
        run.stop()
    seqs = [f.seq for f in run.sink.frames]
    assert seqs == list(range(len(seqs)))


def test_killed_engine_means_passthrough_then_live_again() -> None:
    run = running("diffusion")
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


def test_a_stopped_engine_is_held_then_covered_by_passthrough_before_the_heartbeat_kills_it() -> None:
    run = running("passthrough", hold_s=0.5)  # the identity engine: 60 fps, so the hold limit is the 0.5 s setting
    try:
        run.wait("engine live", lambda: run.engine_frames() > 30)
        pid = run.sup.engine_pid
        assert pid is not None
        before = run.sup.telemetry.snapshot()
        os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        run.wait("passthrough", lambda: run.sup.telemetry.snapshot().passthrough_frames > before.passthrough_frames,
                 timeout=10)
        covered_after = time.monotonic() - stopped_at
        assert covered_after < 2.5, f"passthrough came {covered_after:.1f} s after the stop"  # heartbeat kill: 3 s
        snap = run.sup.telemetry.snapshot()
        assert snap.engine_hangs == 0  # covered before any kill
        assert snap.held_frames > before.held_frames  # the last engine frame held until then: no empty slot
        run.wait("the hang detected and the engine replaced", lambda: run.sup.telemetry.snapshot().engine_hangs >= 1)
    finally:
        run.stop()


def test_a_source_that_fails_reconnects_and_the_sink_keeps_going() -> None:
    run = running("passthrough", plan={"fail_after": 30, "failing": 1})
    try:
        run.wait("reconnect", lambda: run.sup.telemetry.snapshot().source_reconnects >= 1)
        count = len(run.sink.frames)
        run.wait("frames after the reconnect", lambda: len(run.sink.frames) > count + 30)
        # the second connection's frames start again at seq 0 and reach the sink
        run.wait("fresh source frames", lambda: run.sup.telemetry.snapshot().frames_in > 60)
    finally:
        run.stop()


def test_a_source_that_never_opens_gives_no_signal_frames_and_stops_cleanly() -> None:
    run = running("passthrough", plan={"refuse_open": 1})
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
    sup = Supervisor(small_profile(), lambda: FakeSource(PluginSettings()), _flaky_sink, options=opts)
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
