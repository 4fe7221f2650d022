"""An engine started early (``run`` does it before its own heavy imports) becomes the show's first engine;
one that is never used ends when its pipe closes."""

from __future__ import annotations

import multiprocessing
import threading
import time

from live2diff_broadcast.plugin_api import PluginSettings
from live2diff_broadcast.runtime.engine_boot import start_engine_early
from live2diff_broadcast.runtime.supervisor import Supervisor, SupervisorOptions
from live2diff_broadcast.runtime.transport import leftover_segments
from tests.runtime.harness import FakeSource, RecordingSink, small_profile

CTX = multiprocessing.get_context("spawn")


def test_an_unused_early_engine_ends_when_discarded() -> None:
    early = start_engine_early(CTX)
    assert early.process.is_alive()
    early.discard(timeout=60)
    assert not early.process.is_alive()


def test_the_first_engine_is_the_one_started_early() -> None:
    early = start_engine_early(CTX)
    FakeSource.plan = {}
    sink = RecordingSink(PluginSettings())
    sup = Supervisor(small_profile(), lambda: FakeSource(PluginSettings()), lambda: sink,
                     options=SupervisorOptions(model="passthrough"), early_engine=early)
    runner = threading.Thread(target=sup.run, kwargs={"duration": 300}, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 180
        while sup.telemetry.snapshot().live_frames < 5:
            assert time.monotonic() < deadline, f"the early engine never went live: {sup.status()}"
            assert runner.is_alive()
            time.sleep(0.05)
        assert sup.engine_pid == early.process.pid and sup.telemetry.snapshot().engine_restarts == 0
    finally:
        sup.stop()
        runner.join(60)
    assert not runner.is_alive() and not early.process.is_alive()
    assert leftover_segments(sup.prefix) == []
