"""A real NDI round trip over 127.0.0.1: test sender -> ``ndi`` source -> engine (tiny) -> ``ndi`` sink -> receiver."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from live2diff_broadcast.config import Profile
from live2diff_broadcast.media.frames import now_ns
from live2diff_broadcast.plugin_api import discover_plugins
from live2diff_broadcast.runtime.supervisor import Supervisor, SupervisorOptions
from live2diff_broadcast.runtime.transport import leftover_segments

ndi = pytest.importorskip("NDIlib")
from plugins import ndi_runtime  # noqa: E402

SENDER, OUTPUT = "L2D RT Sender", "L2D RT Output"


def _send(stop: threading.Event) -> None:
    lib = ndi_runtime.acquire("test sender")
    create = lib.SendCreate()
    create.ndi_name = SENDER
    create.clock_video = True
    sender = lib.send_create(create)
    video = lib.VideoFrameV2()
    video.FourCC = lib.FOURCC_VIDEO_TYPE_BGRX
    video.frame_rate_N, video.frame_rate_D = 30, 1
    i = 0
    try:
        while not stop.is_set():
            video.data = np.full((64, 96, 4), i % 256, np.uint8)
            lib.send_send_video_v2(sender, video)  # clock_video: paced at 30 fps
            i += 1
    finally:
        lib.send_destroy(sender)
        ndi_runtime.release()


def _receive(frames: list[tuple[tuple[int, ...], int]], stop: threading.Event) -> None:
    lib = ndi_runtime.acquire("test receiver")
    receiver = None
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url and not stop.is_set() and time.monotonic() < deadline:
            for found in ndi_runtime.find_sources(lib, "127.0.0.1", 1.0, wanted=OUTPUT):
                if ndi_runtime.matches(found.name, OUTPUT):
                    url = found.url_address
        if not url:
            return
        create = lib.RecvCreateV3()
        create.color_format = lib.RECV_COLOR_FORMAT_BGRX_BGRA
        receiver = lib.recv_create_v3(create)
        target = lib.Source()
        target.ndi_name, target.url_address = OUTPUT, url
        lib.recv_connect(receiver, target)
        while not stop.is_set():
            kind, video, audio, meta = lib.recv_capture_v2(receiver, 200)
            if kind == lib.FRAME_TYPE_VIDEO:
                frames.append((video.data.shape, int(video.timecode)))
                lib.recv_free_video_v2(receiver, video)
    finally:
        if receiver is not None:
            lib.recv_destroy(receiver)
        ndi_runtime.release()


def test_ndi_round_trip_through_the_engine() -> None:
    registry = discover_plugins()
    profile = Profile(
        engine={"width": 64, "height": 64, "device": "cpu"},
        source={"plugin": "ndi", "settings": {"source": SENDER, "extra_ips": "127.0.0.1", "connect_timeout_s": 10}},
        sink={"plugin": "ndi", "settings": {"name": OUTPUT}},
    )
    source_cls, sink_cls = registry.source("ndi"), registry.sink("ndi")
    stop = threading.Event()
    received: list[tuple[tuple[int, ...], int]] = []
    threads = [threading.Thread(target=_send, args=(stop,), daemon=True),
               threading.Thread(target=_receive, args=(received, stop), daemon=True)]
    for t in threads:
        t.start()
    sup = Supervisor(
        profile,
        lambda: source_cls.create(profile.source.settings),
        lambda: sink_cls.create(profile.sink.settings),
        options=SupervisorOptions(fps=30.0, backoff_initial_s=0.2, backoff_max_s=1.0),
    )
    runner = threading.Thread(target=sup.run, kwargs={"duration": 120}, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline:
            snap = sup.telemetry.snapshot()
            if snap.live_frames >= 10 and len(received) >= 30:
                break
            time.sleep(0.1)
    finally:
        sup.stop()
        runner.join(30)
        stop.set()
        for t in threads:
            t.join(10)
    snap = sup.telemetry.snapshot()
    assert not runner.is_alive()
    assert snap.live_frames >= 10, f"engine frames never reached the sink: {snap}"
    assert len(received) >= 30, f"receiver got {len(received)} frames; {snap}"
    assert len(received) <= snap.frames_out  # nothing invented on the way
    assert {shape for shape, _ in received} == {(64, 64, 4)}
    stamps = [tc for _, tc in received]  # the output slots' pts (monotonic ns / 100) as the NDI timecode
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False)), "timecodes not strictly increasing"
    assert stamps[-1] * 100 <= now_ns(), "a timecode that is not a time on this clock"
    assert leftover_segments(sup.prefix) == []
