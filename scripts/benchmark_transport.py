"""What the process boundary costs per frame: source -> engine process -> sink through the shared-
memory rings, with a pass-through model, against the same identity call made in-process.

    .venv/bin/python scripts/benchmark_transport.py [--frames 300]

Latency is capture stamp -> frame back in the parent, one frame in flight at a time (so no ring
drops). CPU is user+system time of both processes (Linux /proc, 10 ms ticks) per frame.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import time

import numpy as np

from live2diff_broadcast.config import Profile
from live2diff_broadcast.engine.translator import IdentityTranslator
from live2diff_broadcast.media.frames import now_ns
from live2diff_broadcast.runtime.engine_process import EngineProcess
from live2diff_broadcast.runtime.messages import EngineSpec, EngineState, StateEvent
from live2diff_broadcast.runtime.transport import FrameRing, new_run_prefix

SIZES = [(512, 512), (720, 1280)]  # (height, width)


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def direct(size: tuple[int, int], frames: int) -> tuple[list[float], float]:
    model = IdentityTranslator(*size)
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    latencies = []
    cpu0 = time.process_time()
    for _ in range(frames):
        pts = now_ns()
        (_, out), = model.push(image)
        out = out.copy()  # the sink gets its own frame, as through the ring
        latencies.append((now_ns() - pts) / 1e6)
    return latencies, (time.process_time() - cpu0) / frames * 1e3


def transported(size: tuple[int, int], frames: int) -> tuple[list[float], float]:
    ctx = multiprocessing.get_context("spawn")
    prefix = new_run_prefix()
    inp = FrameRing.create(f"{prefix}-in", size, ctx)
    out = FrameRing.create(f"{prefix}-out", size, ctx)
    profile = Profile(engine={"height": size[0], "width": size[1], "device": "cpu"})
    engine = EngineProcess(EngineSpec(profile.model_dump(), None, inp.handle, out.handle, "passthrough", logging.WARNING), ctx)
    engine.start()
    try:
        deadline = time.monotonic() + 60
        while not any(isinstance(e, StateEvent) and e.state is EngineState.WARMING_UP for e in engine.events(0.1)):
            if time.monotonic() > deadline:
                raise TimeoutError("engine did not start within 60 s")
        image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
        latencies = []
        for i in range(frames + 20):
            if i == 20:  # warmed caches, then measure
                cpu0 = time.process_time() + _cpu_s(engine.pid or 0)
                latencies = []
            pts = now_ns()
            inp.write(image, pts, i)
            got = out.read(timeout=5.0)
            if got is None or got.pts_ns != pts:
                raise RuntimeError(f"frame {i}: expected pts {pts} back, got {got and got.pts_ns}")
            latencies.append((now_ns() - pts) / 1e6)
            engine.events()  # drain the per-frame events, as the supervisor does
        cpu_ms = (time.process_time() + _cpu_s(engine.pid or 0) - cpu0) / frames * 1e3
        return latencies, cpu_ms
    finally:
        engine.stop("benchmark over")
        for ring in (inp, out):
            ring.close()
            ring.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for size in SIZES:
        d_lat, d_cpu = direct(size, args.frames)
        t_lat, t_cpu = transported(size, args.frames)
        rows.append((f"{size[1]}x{size[0]}", statistics.median(d_lat), _pct(d_lat, 0.95), statistics.median(t_lat),
                     _pct(t_lat, 0.95), statistics.median(t_lat) - statistics.median(d_lat), d_cpu, t_cpu))
    print(f"{'size':>9} | {'direct p50':>10} {'p95':>6} | {'via engine p50':>14} {'p95':>6} | {'added p50':>9} | "
          f"{'CPU direct':>10} {'CPU via engine':>14}  (ms per frame)")
    for name, dp50, dp95, tp50, tp95, added, dcpu, tcpu in rows:
        print(f"{name:>9} | {dp50:10.3f} {dp95:6.3f} | {tp50:14.3f} {tp95:6.3f} | {added:9.3f} | {dcpu:10.3f} {tcpu:14.3f}")


if __name__ == "__main__":
    main()
