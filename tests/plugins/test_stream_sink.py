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
    sink = StreamSink.create({"url": f"udp://127.0.0.1:{port}", "codec": codec, "keyframe_interval": 1,
                              "timestamps": "capture"})
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
    # pts: integers in the stream's time base, whole frame periods (1/30 s) apart, as stamped. UDP on a
    # loaded machine may lose a datagram (a step of 2 periods, seen in CI under load 6); a fraction of a
    # period (stamps from a clock other than the frames') or a repeat never passes
    pts = [p for p, _, _, _ in frames]
    tb = frames[0][1]
    steps = [round((b - a) * tb * 30, 6) for a, b in zip(pts, pts[1:], strict=False)]
    assert all(step == int(step) and step >= 1 for step in steps), f"pts steps in frame periods: {steps} (pts {pts}, time base {tb})"
    assert steps.count(1) >= len(steps) - 2, f"pts steps in frame periods: {steps} (pts {pts}, time base {tb})"


def test_by_default_pts_are_the_send_times_not_the_capture_times() -> None:
    """A player (OBS) paces frames by pts: stamped with the send time it shows each one as it arrives,
    instead of re-creating the capture timing and holding back frames that the engine delivered early."""
    port = udp_port()
    receiver = Receiver(port, 12)
    sink = StreamSink.create({"url": f"udp://127.0.0.1:{port}", "keyframe_interval": 1})
    sink.open(64, 64, 30.0)
    image = np.full((64, 64, 3), 90, np.uint8)
    t0, pause = now_ns(), threading.Event()
    try:
        for i in range(45):  # capture times 10 s apart, written ~33 ms apart
            sink.write(Frame(image.copy(), t0 + i * 10_000_000_000, i))
            pause.wait(1 / 30)
    finally:
        sink.close()
    frames = receiver.join()
    pts, tb = [p for p, _, _, _ in frames], frames[0][1]
    steps = [float((b - a) * tb) for a, b in zip(pts, pts[1:], strict=False)]
    assert steps and all(0 < step < 5.0 for step in steps), steps  # the send clock: nowhere near 10 s
    assert sink.settings.timestamps == "send"
    assert sink.settings.preset == "ultrafast"  # the cheapest frames to decode: measured sooner into OBS


def test_the_last_picture_is_repeated_to_keep_min_fps_and_mpeg2_never_repeats() -> None:
    """A player's frame-threaded decoder holds back a fixed number of frames: repeats move them out."""
    port = udp_port()
    receiver = Receiver(port, 6)
    sink = StreamSink.create({"url": f"udp://127.0.0.1:{port}", "keyframe_interval": 1, "min_fps": 60})
    sink.open(64, 64, 30.0)
    try:
        sink.write(Frame(np.full((64, 64, 3), RED, np.uint8), now_ns(), 0))  # one frame, then silence
        frames = receiver.join()  # bounded: 30 s for six frames out of one write
    finally:
        sink.close()
    assert len(frames) == 6
    for _, _, _, rgb in frames:
        assert np.abs(rgb[16:48, 16:48].astype(int) - RED).max() <= 12
    mpeg2 = StreamSink.create({"url": f"udp://127.0.0.1:{udp_port()}", "codec": "mpeg2video"})
    mpeg2.open(64, 64, 30.0)
    try:
        mpeg2.write(Frame(np.full((64, 64, 3), RED, np.uint8), now_ns(), 0))
        threading.Event().wait(0.3)
        encoder = mpeg2._encoder
        assert encoder is not None and encoder.frames_repeated == 0  # its 1/fps time base has no slot for them
    finally:
        mpeg2.close()


def test_every_video_pes_states_its_length_so_a_demuxer_needs_not_wait_for_the_next_frame() -> None:
    """FFmpeg's mpegts muxer omits video PES lengths by default; a demuxer then learns that a frame
    ended only from the next one's first packet: a whole frame period of delay (docs/benchmarks.md)."""
    port = udp_port()
    lengths: list[int] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", port))
        rx.settimeout(10)
        sink = StreamSink.create({"url": f"udp://127.0.0.1:{port}", "keyframe_interval": 5})
        sink.open(64, 64, 30.0)
        try:
            send(sink, 20, 33_333_333)
            while len(lengths) < 15:
                datagram = rx.recv(65536)
                for at in range(0, len(datagram) - 187, 188):
                    lengths += _video_pes_lengths(datagram[at : at + 188])
        finally:
            sink.close()
    assert lengths and all(length > 0 for length in lengths), lengths


def _video_pes_lengths(packet: bytes) -> list[int]:
    """PES_packet_length of a video PES starting in this 188-byte TS packet ([] when none starts here)."""
    assert packet[0] == 0x47, "lost TS sync"
    if not packet[1] & 0x40:  # payload_unit_start_indicator
        return []
    control = (packet[3] >> 4) & 3
    offset = 4 + (1 + packet[4] if control in (2, 3) else 0)
    payload = packet[offset:]
    if payload[:3] != b"\x00\x00\x01" or not 0xE0 <= payload[3] <= 0xEF:
        return []
    return [int.from_bytes(payload[4:6], "big")]


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
