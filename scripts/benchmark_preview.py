"""What the dock's live picture costs (control/preview.py), per frame.

1. the hot path: ``PreviewTap.offer`` per written frame (the only thing the output stage does);
2. one picture: scale the newest frame to 320 px and encode a JPEG (``PreviewFeeds.encode``), then
   the base64 JSON message, at the engine's and common camera sizes;
3. end to end: a real control server fed 30 frames a second, one dock watching over a real
   WebSocket: pictures delivered per second and the CPU time each costs the show's process
   ((CPU while watched - CPU while nobody watches) / pictures).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/benchmark_preview.py [--seconds 10]

Threads are pinned (OpenCV to one thread) so the figures are comparable on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time

import cv2
import numpy as np
import websockets

from live2diff_broadcast.control.bus import ControlBus
from live2diff_broadcast.control.preview import DEFAULT_FPS, PreviewFeeds, PreviewTap
from live2diff_broadcast.control.server import ControlServer

SIZES = [(512, 512), (720, 1280), (1080, 1920)]


def frames(h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 8)  # camera-like, not noise
    return [np.roll(base, i * 7, axis=1) for i in range(8)]


def tap_cost(calls: int = 1_000_000) -> float:
    tap, image = PreviewTap(), np.zeros((4, 4, 3), np.uint8)
    start = time.perf_counter_ns()
    for _ in range(calls):
        tap.offer(image)
    return (time.perf_counter_ns() - start) / calls


def encode_cost(h: int, w: int, count: int = 120) -> tuple[float, float, int]:
    """(ms per JPEG, ms per JSON message, bytes per JPEG): median over ``count`` new frames."""
    tap, images = PreviewTap(), frames(h, w)
    feeds = PreviewFeeds({"output": tap.latest})
    encode_ms, message_ms, sizes = [], [], []
    for i in range(count):
        tap.offer(images[i % len(images)])
        t0 = time.perf_counter_ns()
        frame = feeds.encode("output")
        t1 = time.perf_counter_ns()
        assert frame is not None
        json.dumps(frame.message())
        t2 = time.perf_counter_ns()
        encode_ms.append((t1 - t0) / 1e6)
        message_ms.append((t2 - t1) / 1e6)
        sizes.append(len(frame.jpeg))
    return statistics.median(encode_ms), statistics.median(message_ms), int(statistics.median(sizes))


def end_to_end(seconds: float) -> tuple[float, float, float]:
    """(pictures/s delivered, CPU ms per picture, CPU % while watched minus idle)."""
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp()
    tap, images = PreviewTap(), frames(512, 512)
    server = ControlServer(ControlBus(), dict, port=0, preview=PreviewFeeds({"output": tap.latest}))
    server.start()
    stop = threading.Event()

    def feed() -> None:  # the output stage writing 30 frames a second
        i = 0
        while not stop.wait(1 / 30):
            tap.offer(images[i % len(images)])
            i += 1

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()

    async def watch(preview: bool) -> tuple[int, float]:
        url = f"ws://127.0.0.1:{server.address[1]}/ws"
        async with websockets.connect(url, proxy=None, max_size=None) as ws:
            await ws.send(json.dumps({"token": server.token}))
            await ws.send(json.dumps({"preview": ["output"] if preview else [], "id": "preview"}))
            pictures, cpu0, end = 0, time.process_time(), time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                pictures += message.get("type") == "preview"
            return pictures, time.process_time() - cpu0

    try:
        _, idle_cpu = asyncio.run(watch(False))
        pictures, watched_cpu = asyncio.run(watch(True))
    finally:
        stop.set()
        feeder.join(2)
        server.stop()
    extra = max(0.0, watched_cpu - idle_cpu)
    return pictures / seconds, 1000 * extra / max(pictures, 1), 100 * extra / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each end-to-end phase")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"| what | figure |\n|---|---|\n| PreviewTap.offer (the output stage's hook), per frame | {tap_cost():.0f} ns |")
    for h, w in SIZES:
        encode_ms, message_ms, size = encode_cost(h, w)
        print(f"| one picture from {w}x{h}: scale to 320 px + JPEG q70 | {encode_ms:.2f} ms ({size / 1024:.1f} KiB) |")
        print(f"| its base64 JSON message | {message_ms:.2f} ms |")
    rate, cpu_ms, percent = end_to_end(args.seconds)
    print(f"| end to end, 512x512 at 30 fps, one dock at {DEFAULT_FPS:g} pictures/s | {rate:.1f} pictures/s delivered, "
          f"{cpu_ms:.1f} ms CPU per picture, {percent:.1f} % of one core |")


if __name__ == "__main__":
    main()
