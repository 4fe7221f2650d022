"""What the ``stream`` sink adds per frame: write() -> MPEG-TS packets sent over UDP (encode + mux + send).

    .venv/bin/python scripts/benchmark_stream_sink.py [--frames 300] [--size 512] [--fps 30]

Frames are written at ``fps`` (as the show does), so the sender thread is never behind and the
figure is the latency one frame gains, not a throughput. A real receiver (PyAV reading the UDP
port, as an OBS Media Source does) decodes the stream alongside, so the packets go somewhere.
Reports p50 / p95 / max in ms per codec, the frames dropped (latest-frame-wins) and the bitrate.
OBS's own first-frame time comes from the integration test (tests/obs/test_obs_show.py, printed
with -s).
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import threading
import time

import av
import numpy as np

from live2diff_broadcast.media.frames import Frame, now_ns
from plugins.stream_sink import StreamSink


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _receive(port: int, stop: threading.Event, counter: list[int]) -> None:
    try:
        with av.open(f"udp://127.0.0.1:{port}?timeout=3000000", format="mpegts", timeout=10) as container:
            for _ in container.decode(container.streams.video[0]):
                counter[0] += 1
                if stop.is_set():
                    return
    except av.error.ExitError:
        return  # the sender stopped: the read timed out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench(codec: str, frames: int, size: int, fps: float) -> None:
    port = _free_udp_port()
    stop, decoded = threading.Event(), [0]
    receiver = threading.Thread(target=_receive, args=(port, stop, decoded), daemon=True)
    receiver.start()
    sink = StreamSink.create({"url": f"udp://127.0.0.1:{port}", "codec": codec})
    sink.open(size, size, fps)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), np.uint8)  # textured content: the encoder has work to do
    period = 1.0 / fps
    t0 = time.monotonic()
    for i in range(frames):
        image = np.roll(base, i * 4, axis=1)  # moving content, (H, W, 3)
        sink.write(Frame(image, now_ns(), i))
        delay = t0 + (i + 1) * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)
    encoder = sink._encoder
    megabits = (encoder.bytes_sent * 8 / 1e6) if encoder is not None else float("nan")
    sink.close()
    stop.set()
    receiver.join(5)
    ms = [ns / 1e6 for ns in list(sink.send_ns)[10:]]  # the first frames include the encoder's start-up
    print(f"{sink.detail:60s} {size}x{size} @ {fps:g} fps: added latency p50 {statistics.median(ms):6.2f} ms  "
          f"p95 {_pct(ms, 0.95):6.2f} ms  max {max(ms):6.2f} ms  dropped {sink.dropped}/{frames}  "
          f"{megabits / (frames / fps):.2f} Mbit/s  decoded by the receiver {decoded[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}")
    for codec in ("h264", "mpeg2video"):
        bench(codec, args.frames, args.size, args.fps)


if __name__ == "__main__":
    main()
