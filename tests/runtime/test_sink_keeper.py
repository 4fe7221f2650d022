import numpy as np
import pytest

from live2diff_broadcast.media.backoff import Backoff
from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, PluginSettings, Sink
from live2diff_broadcast.runtime.sink_keeper import SinkKeeper
from live2diff_broadcast.runtime.telemetry import Telemetry


class Device(Sink):
    name = "device"
    plugged = True

    def open(self, width: int, height: int, fps: float) -> None:
        if not Device.plugged:
            raise PluginError("sink 'device': not plugged in (test)")
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        if not Device.plugged:
            raise OSError("unplugged (test)")
        self.frames.append(frame)


def frame(seq: int) -> Frame:
    return Frame(np.zeros((4, 4, 3), np.uint8), seq + 1, seq)


def test_unplugged_device_is_dropped_retried_with_backoff_and_reopened(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("live2diff_broadcast.runtime.sink_keeper.time.monotonic", lambda: clock[0])
    Device.plugged = True
    telemetry = Telemetry()
    keeper = SinkKeeper(lambda: Device(PluginSettings()), telemetry, Backoff(1.0, 4.0), failures_before_reopen=2)
    first = Device(PluginSettings())
    keeper.open(first, 4, 4, 30.0)
    assert keeper.write(frame(0))
    Device.plugged = False
    assert not keeper.write(frame(1)) and keeper.sink is first  # one failure: kept
    assert not keeper.write(frame(2)) and keeper.sink is None and first._closed  # two: dropped
    assert not keeper.write(frame(3))  # within the backoff: no attempt
    clock[0] += 1.0
    assert not keeper.write(frame(4))  # attempt fails (still unplugged): next try in 2 s
    Device.plugged = True
    clock[0] += 1.0
    assert not keeper.write(frame(5))
    clock[0] += 1.0
    assert keeper.write(frame(6)) and keeper.sink is not first
    assert [f.seq for f in keeper.sink.frames] == [6]  # type: ignore[union-attr]
    assert telemetry.snapshot().sink_reopens == 1
    keeper.close("test over")
    keeper.close("twice is fine")
