"""Several sinks, each on its own thread: one raising, one stuck in a write, and the good one still gets
every slot; the hand-off never waits; start-up rules for one sink and for several."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from live2diff_broadcast.media.backoff import Backoff
from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, PluginSettings, Sink
from live2diff_broadcast.runtime.sinks import SinkSet, SinkSpec
from live2diff_broadcast.runtime.telemetry import Telemetry

SLOTS = 200


class Good(Sink):
    name = "good"

    def open(self, width: int, height: int, fps: float) -> None:
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)


class Raising(Sink):
    """Opens, then every write raises (a device unplugged); counts its instances (each reopen is a new one)."""

    name = "raising"
    made = 0

    def open(self, width: int, height: int, fps: float) -> None:
        Raising.made += 1

    def write(self, frame: Frame) -> None:
        raise OSError("device unplugged (test)")


class Stuck(Sink):
    """Writes 3 frames, then blocks in write until ``release`` is set (a hung driver)."""

    name = "stuck"
    release = threading.Event()

    def open(self, width: int, height: int, fps: float) -> None:
        self.written = 0

    def write(self, frame: Frame) -> None:
        if self.written >= 3:
            Stuck.release.wait()
        self.written += 1


class Refusing(Sink):
    name = "refusing"
    refuse = True

    def open(self, width: int, height: int, fps: float) -> None:
        if Refusing.refuse:
            raise PluginError("sink 'refusing': no device (test)")

    def write(self, frame: Frame) -> None:
        pass


def made(cls: type[Sink], keep: list[Sink] | None = None) -> Callable[[], Sink]:
    def factory() -> Sink:
        sink = cls(PluginSettings())
        if keep is not None:
            keep.append(sink)
        return sink
    return factory


def frame(slot: int) -> Frame:
    return Frame(np.full((4, 4, 3), slot % 256, np.uint8), 1000 + slot, slot)


def wait(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_raising_and_a_stuck_sink_never_cost_the_good_one_a_slot(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    goods: list[Sink] = []
    Stuck.release.clear()
    telemetry = Telemetry()
    sinks = SinkSet([SinkSpec("sinks[0] good", made(Good, goods)), SinkSpec("sinks[1] raising", made(Raising)),
                     SinkSpec("sinks[2] stuck", made(Stuck))], telemetry, lambda: Backoff(0.05, 0.2), stall_s=0.5)
    sinks.create()
    sinks.open(4, 4, fps=SLOTS + 10)  # the good sink may lag a whole run behind and still owe every slot
    try:
        # the grid: one frame per slot, paced so the stuck sink's stall shows while frames still come
        producer = threading.Thread(target=lambda: [(sinks.write(frame(k)), time.sleep(0.01)) for k in range(SLOTS)])
        producer.start()
        producer.join(120)
        assert not producer.is_alive(), "the hand-off waited on a sink"
        good = goods[0]
        assert isinstance(good, Good)
        wait("the good sink to write every slot", lambda: len(good.frames) == SLOTS)
        assert [f.pts_ns for f in good.frames] == [1000 + k for k in range(SLOTS)]  # every slot, in order
        assert [f.seq for f in good.frames] == list(range(SLOTS))
        wait("the stuck sink marked stalled", lambda: telemetry.snapshot().sinks[2]["state"] == "stalled")
        rows = telemetry.snapshot().sinks
        assert rows[0]["label"] == "sinks[0] good" and rows[0]["written"] == SLOTS and rows[0]["state"] == "open"
        assert rows[1]["written"] == 0 and rows[1]["state"] in ("retrying", "open", "closed")
        assert rows[1]["missed"] > 0 and "device unplugged" in rows[1]["error"]
        assert Raising.made >= 2  # closed after 3 failed writes and reopened with backoff, again and again
        assert rows[2]["written"] == 3  # the stuck one owes its own slots, no one else's
        text = caplog.text
        assert "sinks[1] raising failed to write a frame" in text and "OSError: device unplugged (test)" in text
        assert "sinks[1] raising 3 failed writes in a row" in text and "retrying in" in text
        assert "sinks[2] stuck: a write has not returned" in text
        line = telemetry.snapshot().status_line()
        assert f"sinks[0] good {SLOTS}" in line and "sinks[2] stuck STALLED" in line
    finally:
        closing = threading.Thread(target=sinks.close, args=("test over", 1.0))
        closing.start()
        closing.join(60)
        Stuck.release.set()
    assert not closing.is_alive(), "close waited on the stuck sink"
    assert goods[0]._closed
    assert "sinks[2] stuck did not close within 1 s" in caplog.text


def test_one_sink_must_open_as_it_always_had_to() -> None:
    Refusing.refuse = True
    sinks = SinkSet([SinkSpec("sink refusing", made(Refusing))], Telemetry(), lambda: Backoff(0.05, 0.2))
    sinks.create()
    with pytest.raises(PluginError, match="no device"):
        sinks.open(4, 4, 30.0)
    sinks.close("start failed")


def test_of_several_one_that_cannot_open_is_retried_while_the_others_run(caplog: pytest.LogCaptureFixture) -> None:
    Refusing.refuse = True
    goods: list[Sink] = []
    telemetry = Telemetry()
    sinks = SinkSet([SinkSpec("sinks[0] good", made(Good, goods)), SinkSpec("sinks[1] refusing 'cam'", made(Refusing))],
                    telemetry, lambda: Backoff(0.05, 0.2))
    sinks.create()
    sinks.open(4, 4, 30.0)
    try:
        assert "sinks[1] refusing 'cam' cannot be opened: sink 'refusing': no device (test); retrying in" in caplog.text
        for k in range(5):
            sinks.write(frame(k))
        wait("the good sink", lambda: len(goods[0].frames) == 5)  # type: ignore[attr-defined]
        Refusing.refuse = False  # the device is plugged in
        k = 5
        while telemetry.snapshot().sinks[1]["state"] != "open":
            sinks.write(frame(k))
            k += 1
            wait("the good sink", lambda k=k: len(goods[0].frames) == k)  # type: ignore[attr-defined, misc]
        assert telemetry.snapshot().sinks[1]["reopens"] == 1 and telemetry.snapshot().sink_reopens == 1
    finally:
        sinks.close("test over")


def test_when_none_of_several_opens_the_start_stops() -> None:
    Refusing.refuse = True
    sinks = SinkSet([SinkSpec("sinks[0] refusing", made(Refusing)), SinkSpec("sinks[1] refusing", made(Refusing))],
                    Telemetry(), lambda: Backoff(0.05, 0.2))
    sinks.create()
    with pytest.raises(PluginError, match="none of the 2 sinks could be opened"):
        sinks.open(4, 4, 30.0)
    sinks.close("start failed")


class Slow(Sink):
    """Takes 50 ms per frame: slower than the slots it is given."""

    name = "slow"

    def open(self, width: int, height: int, fps: float) -> None:
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        time.sleep(0.05)
        self.frames.append(frame)


def test_a_slow_sink_drops_its_own_oldest_slots_and_always_shows_the_newest_picture() -> None:
    goods: list[Sink] = []
    slows: list[Sink] = []
    telemetry = Telemetry()
    sinks = SinkSet([SinkSpec("sinks[0] good", made(Good, goods)), SinkSpec("sinks[1] slow", made(Slow, slows))],
                    telemetry, lambda: Backoff(0.05, 0.2))
    sinks.create()
    sinks.open(4, 4, fps=5.0)  # at most 5 slots owed per sink
    good, slow = goods[0], slows[0]
    assert isinstance(good, Good) and isinstance(slow, Slow)
    for k in range(100):
        sinks.write(frame(k))
        wait("the good sink", lambda k=k: len(good.frames) == k + 1)  # type: ignore[misc]
    sinks.close("test over")  # the slow one writes what it still owes, then closes
    row = telemetry.snapshot().sinks[1]
    pts = [f.pts_ns for f in slow.frames]
    assert [f.pts_ns for f in good.frames] == [1000 + k for k in range(100)]  # the good one: every slot
    assert row["missed"] > 0 and row["written"] == len(pts) and row["written"] + row["missed"] == 100
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))  # the slots it kept, in order
    assert int(slow.frames[-1].image[0, 0, 0]) == 99  # never a queue of stale pictures: it ends on the newest
