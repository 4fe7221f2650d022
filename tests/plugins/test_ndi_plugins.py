"""A real NDI round trip over loopback: ndi sink (sender) -> ndi source (receiver)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import DeviceQuery, PluginError
from plugins.ndi_sink import NdiSink, frame_rate_fraction
from plugins.ndi_source import NdiSource

pytest.importorskip("NDIlib")


def _pattern(width: int, height: int) -> np.ndarray:
    """(H, W, 3) RGB: red left half, blue right half, a green square in the middle."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (220, 30, 30)
    image[:, width // 2 :] = (30, 30, 220)
    image[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3] = (30, 220, 30)
    return image


class _Sender:
    """An NDI sink fed from a thread until stopped, as the runtime would feed it."""

    def __init__(self, name: str, out_size: tuple[int, int]) -> None:
        self.sink = NdiSink.create({"name": name, "width": out_size[0], "height": out_size[1]})
        self.sink.open(width=160, height=120, fps=60.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        image, seq = _pattern(160, 120), 0
        while not self._stop.wait(1 / 60):
            self.sink.write(Frame(image, pts_ns=seq, seq=seq))
            seq += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sink.close()
        self.sink.close()


@pytest.fixture
def sender() -> Iterator[tuple[str, _Sender]]:
    name = f"l2d-test-{uuid.uuid4().hex[:8]}"  # unique: other test runs may send on this host too
    s = _Sender(name, out_size=(96, 64))  # the sink scales 160x120 input to its own 96x64
    yield name, s
    s.stop()


def _receive(source: NdiSource, count: int) -> list[Frame]:
    frames = []
    for _ in range(200):
        frame = source.read(timeout=0.1)
        if frame is not None:
            frames.append(frame)
        if len(frames) == count:
            break
    return frames


def test_round_trip_by_name_via_extra_ips(sender: tuple[str, _Sender]) -> None:
    name, _ = sender
    source = NdiSource.create({"source": name, "extra_ips": "127.0.0.1", "connect_timeout_s": 5})
    source.open()
    frames = _receive(source, 5)
    source.close()
    source.close()

    assert len(frames) == 5
    assert [f.seq for f in frames] == list(range(5))
    assert all(b.pts_ns > a.pts_ns for a, b in zip(frames, frames[1:], strict=False))
    image = frames[-1].image
    assert image.shape == (64, 96, 3)
    # Colours survive NDI's YUV transport roughly: red left, blue right, green centre.
    assert np.allclose(image[5, 5], (220, 30, 30), atol=25)
    assert np.allclose(image[60, 90], (30, 30, 220), atol=25)
    assert np.allclose(image[32, 48], (30, 220, 30), atol=25)
    assert source.fps == pytest.approx(60.0)


def test_round_trip_by_direct_url_and_devices_listing(sender: tuple[str, _Sender]) -> None:
    name, _ = sender
    devices = NdiSource.list_devices(DeviceQuery(timeout_s=1.0, extra_ips="127.0.0.1"))
    mine = [d for d in devices if d.name.endswith(f"({name})")]
    assert len(mine) == 1 and mine[0].detail.startswith("127.0.0.1:")

    source = NdiSource.create({"source": name, "url_address": mine[0].detail, "connect_timeout_s": 5})
    source.open()
    frames = _receive(source, 2)
    source.close()
    assert len(frames) == 2 and frames[0].image.shape == (64, 96, 3)


def test_a_source_that_never_appears_fails_clearly_within_its_timeout() -> None:
    source = NdiSource.create({"source": "no-such-sender-xyz", "extra_ips": "127.0.0.1", "connect_timeout_s": 0.5})
    with pytest.raises(PluginError, match="no NDI source named 'no-such-sender-xyz' appeared within connect_timeout_s=0.5"):
        source.open()
    source.close()


def test_a_dead_direct_address_fails_clearly_within_its_timeout() -> None:
    source = NdiSource.create({"source": "ghost", "url_address": "127.0.0.1:9", "connect_timeout_s": 0.5})
    with pytest.raises(PluginError, match="setting 'url_address': nothing accepted a connection at '127.0.0.1:9'"):
        source.open()


def test_frame_rate_fraction() -> None:
    assert frame_rate_fraction(30.0) == (30, 1)
    assert frame_rate_fraction(30000 / 1001) == (30000, 1001)
    assert frame_rate_fraction(25) == (25, 1)
