"""The source stage: a restart (the profile's [source] changed) reconnects at once, even mid-backoff."""

from __future__ import annotations

import multiprocessing
import time

from live2diff_broadcast.media.backoff import Backoff
from live2diff_broadcast.plugin_api import PluginError, PluginSettings
from live2diff_broadcast.runtime.source_stage import SourceStage
from live2diff_broadcast.runtime.telemetry import Telemetry
from live2diff_broadcast.runtime.transport import FrameRing, new_run_prefix
from tests.runtime.harness import FakeSource


class Unplugged(FakeSource):
    def open(self) -> None:
        raise PluginError("source 'fake': no such device (test)")


def test_a_restart_cuts_a_long_backoff_short() -> None:
    ring = FrameRing.create(f"{new_run_prefix()}-in", (48, 80), multiprocessing.get_context("spawn"))
    fixed = {"yes": False}
    telemetry = Telemetry()
    FakeSource.plan = {}
    stage = SourceStage(lambda: FakeSource(PluginSettings()) if fixed["yes"] else Unplugged(PluginSettings()),
                        ring, telemetry, Backoff(600.0, 600.0), on_end=lambda: None)
    stage.start(None)
    try:
        deadline = time.monotonic() + 60
        while telemetry.snapshot().source_reconnects < 1:  # failed once: now in a 600 s backoff wait
            assert time.monotonic() < deadline
            time.sleep(0.02)
        fixed["yes"] = True
        stage.restart()  # what a reload of [source] does
        deadline = time.monotonic() + 120  # far less than the 600 s backoff
        while stage.latest().frame is None:
            assert time.monotonic() < deadline, "the restart waited out the backoff"
            time.sleep(0.02)
    finally:
        stage.stop()
        ring.close()
        ring.unlink()
