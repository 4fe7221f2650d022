"""The ``stream`` sink: what it sends decodes (PyAV reading the UDP port, as an OBS Media Source does)
with our colours and our frame clock as pts; bad settings are refused at creation; a failing send
surfaces on the next write; MPEG-2 works and the H.264 fallback is loud."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import numpy as np
import pytest

from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.plugin_api import PluginError

av = pytest.importorskip("av")
from plugins import _stream_encoder  # noqa: E402
from plugins._mailbox import LatestMailbox  # noqa: E402
from plugins.stream_sink import StreamSink  # noqa: E402

RED = (200, 30, 30)


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Decodes ``count`` frames from udp://127.0.0.1:port on a thread: [(pts, time_base, codec, rgb)]."""

    def __init__(self, port: int, count: int) -> None:
        self.frames: list[tuple[int, Any, str, np.ndarray]] = []
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(port, count), daemon=True)
        self._thread.start()

    def _run(self, port: int, count: int) -> None:
        try:
            with av.open(f"udp://127.0.0.1:{port}?timeout=10000000", format="mpegts", timeout=20) as container:
                stream = container.streams.video[0]
                for frame in container.decode(stream):
                    self.frames.append((frame.pts, frame.time_base, stream.codec_context.name,
                                        frame.to_ndarray(format="rgb24")))
                    if len(self.frames) >= count:
                        return
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def join(self) -> list[tuple[int, Any, str, np.ndarray]]:
        self._thread.join(30)
        assert self.error is None, f"receiver failed: {self.error}"
        return self.frames


def send(sink: StreamSink, count: int, period_ns: int, size: int = 64) -> None:
    t0 = now_ns()
    image = np.empty((size, size, 3), np.uint8)
    image[:] = RED
    deadline = threading.Event()
    for i in range(count):
        sink.write(Frame(image.copy(), t0 + i * period_ns, i))
        deadline.wait(period_ns / 1e9)


@pytest.mark.parametrize(("codec", "decoder"), [("auto", "h264"), ("mpeg2video", "mpeg2video")])
def test_receiver_decodes_our_colours_with_frame_clock_pts(codec: str, decoder: str) -> None:
    port = udp_port()
    receiver = Receiver(port, 12)
    sink = StreamSink.create({"url": f"udp://127.0.0.1:{port}", "codec": codec, "keyframe_interval": 1})
    sink.open(64, 64, 30.0)
    try:
        send(sink, 45, 33_333_333)
    finally:
        sink.close()
    frames = receiver.join()
    assert len(frames) == 12
    assert {name for _, _, name, _ in frames} == {decoder}
    for _, _, _, rgb in frames:
        assert rgb.shape == (64, 64, 3)
        assert np.abs(rgb[16:48, 16:48].astype(int) - RED).max() <= 12
    # pts: integers in the stream's time base, one frame period (1/30 s) apart, as stamped
    pts = [p for p, _, _, _ in frames]
    tb = frames[0][1]
    steps = {round((b - a) * tb * 30, 6) for a, b in zip(pts, pts[1:], strict=False)}
    assert steps == {1}, f"pts steps in frame periods: {steps} (pts {pts}, time base {tb})"


def test_pts_follow_the_frame_clock_exactly_and_never_repeat() -> None:
    encoder = _stream_encoder.StreamEncoder.__new__(_stream_encoder.StreamEncoder)
    encoder.time_base, encoder._origin_ns, encoder._last_pts = _stream_encoder.MPEGTS_CLOCK, None, -1
    stamps = [5_000_000_000, 5_033_333_333, 5_100_000_000, 5_100_000_001, 6_000_000_000]
    assert [encoder.pts_for(t) for t in stamps] == [0, 3000, 9000, 9001, 90000]


def test_bad_settings_are_refused_at_creation() -> None:
    with pytest.raises(PluginError, match="expected udp://HOST:PORT or srt://HOST:PORT, got 'rtmp://x:1'"):
        StreamSink.create({"url": "rtmp://x:1"})
    with pytest.raises(PluginError, match="with a port in 1..65535"):
        StreamSink.create({"url": "udp://127.0.0.1"})
    with pytest.raises(PluginError, match="codec"):
        StreamSink.create({"codec": "vp9"})
    with pytest.raises(PluginError, match="keyframe_interval"):
        StreamSink.create({"keyframe_interval": 0})


@pytest.mark.skipif(_stream_encoder.protocol_available("srt"), reason="this FFmpeg has SRT")
def test_srt_without_libsrt_names_the_fix() -> None:
    with pytest.raises(PluginError, match="no SRT protocol.*use udp://HOST:PORT.*--enable-libsrt"):
        StreamSink.create({"url": "srt://127.0.0.1:9000"})


def test_missing_libx264_falls_back_to_mpeg2_loudly(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_stream_encoder, "encoder_available", lambda name: False)
    with caplog.at_level(logging.ERROR):
        sink = StreamSink.create({"codec": "h264"})
    assert sink.encoder_name == "mpeg2video"
    assert "CODEC FALLBACK" in sink.detail
    assert any("STREAM CODEC FALLBACK" in r.getMessage() and "libx264" in r.getMessage() for r in caplog.records)


def test_a_failing_send_surfaces_on_the_next_write() -> None:
    sink = StreamSink.create({"url": "udp://255.255.255.255:5600"})  # broadcast without SO_BROADCAST: EACCES
    sink.open(64, 64, 30.0)
    try:
        with pytest.raises(PluginError, match="sending to udp://255.255.255.255:5600 failed"):
            send(sink, 30, 20_000_000)
    finally:
        sink.close()


def test_odd_sizes_are_refused_at_open() -> None:
    sink = StreamSink.create({"width": 65, "height": 64})
    with pytest.raises(PluginError, match="65x64 must both be even"):
        sink.open(64, 64, 30.0)


def test_mailbox_keeps_only_the_latest_and_counts_drops() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    assert box.put(1) and not box.put(2) and not box.put(3)
    assert box.dropped == 2 and box.take(0.1) == 3 and box.take(0.01) is None
    box.put(4)
    box.close()
    assert box.take(0.01) is None and box.closed
