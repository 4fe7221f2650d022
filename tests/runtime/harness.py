"""Shared test harness for whole-broadcast tests: a fake source, a recording sink, and a supervisor
running in a thread with bounded waits and the end-of-show checks every such test makes."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.config.watch import ProfileWatcher
from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.plugin_api import PluginError, PluginSettings, Sink, Source
from live2diff_broadcast.runtime.supervisor import Supervisor, SupervisorOptions
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


def small_profile() -> Profile:
    return Profile(engine={"width": SIZE, "height": SIZE, "device": "cpu"})


class Show:
    """A supervisor running in a thread (FakeSource -> engine -> RecordingSink), its control events
    recorded, with bounded waits on what it shows."""

    def __init__(
        self,
        profile: Profile | None = None,
        model: str = "diffusion",
        plan: dict[str, int] | None = None,
        watcher: ProfileWatcher | None = None,
        duration: float = 600,
        hold_s: float | None = None,
        profile_path: Any = None,
        **options: Any,
    ) -> None:
        FakeSource.plan = dict(plan or {})
        self.profile = profile or small_profile()
        if hold_s is not None:  # [output] hold_s: how long the last engine frame is held without progress
            self.profile = self.profile.model_copy(update={"output": self.profile.output.model_copy(update={"hold_s": hold_s})})
        self.sink = RecordingSink(PluginSettings())
        opts = SupervisorOptions(model=model, **options)  # type: ignore[arg-type]
        self.sup = Supervisor(self.profile, lambda: FakeSource(PluginSettings()), lambda: self.sink, options=opts,
                              watcher=watcher, profile_path=profile_path)
        self.events: list[Any] = []
        self.sup.controls.subscribe(self.events.append)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(duration,), daemon=True)
        self.thread.start()

    def _run(self, duration: float) -> None:
        try:
            self.sup.run(duration=duration)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.error is None, f"supervisor failed: {self.error!r}"
            assert self.thread.is_alive(), "supervisor stopped"
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.sup.status()}"
            time.sleep(0.05)

    def engine_frames(self) -> int:
        """New engine outputs written so far (held repeats not counted)."""
        return self.sup.telemetry.snapshot().live_frames

    def wait_live(self) -> None:
        self.wait("engine frames", lambda: self.engine_frames() > 3)

    def stop(self) -> None:
        """Stop, then check what every show must leave: no process, no shm segment, a closed sink,
        model-size frames with strictly increasing pts (no slot written twice or out of order)."""
        engine_pid = self.sup.engine_pid
        self.sup.stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), "supervisor did not shut down within 60 s"
        assert self.error is None, f"supervisor failed: {self.error!r}"
        assert multiprocessing.active_children() == []
        if engine_pid is not None:
            with pytest.raises(ProcessLookupError):
                os.kill(engine_pid, 0)
        assert leftover_segments(self.sup.prefix) == []
        assert self.sink._closed, "the sink was not closed"
        pts = [f.pts_ns for f in self.sink.frames]
        assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "a frame was repeated or reordered"
        height, width = self.profile.engine.height, self.profile.engine.width
        assert all(f.image.shape == (height, width, 3) for f in self.sink.frames)
