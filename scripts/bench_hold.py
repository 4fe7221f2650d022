"""Hold per style switch: how long the output holds the last old-style frame while the engine re-warms.

A switch between two styles on the same models (another prompt, seed and strength) re-warms the
sinks on the last ``warmup`` input frames (``engine/style_switch.py``): one warmup pass, ``warmup``
frames x n steps of UNet work, during which no frame comes out and the output stage holds the last
one (``runtime/output_stage.py``). Measured in process, on the engine's own path
(``FrameTranslator.set_style``): per switch, from the last old-style output to the first new-style
output, next to the steady frame interval. Random-weight tiny / small presets on the CPU, threads
pinned; the UNet FLOPs of one frame-step and of the warmup pass are counted on the meta device
(no compute), for these presets and for the SD1.5 layout, to estimate a GPU's hold:

    .venv/bin/python scripts/bench_hold.py [--presets tiny,small] [--size 256x144] [--switches 6] [--threads 1]

Record the figures in docs/benchmarks.md with the machine, ``uptime`` and the date.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from live2diff_broadcast.engine.components import (
    Live2DiffComponents,
    sd15_random_components,
    small_random_components,
    tiny_components,
)
from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream
from live2diff_broadcast.engine.translator import FrameTranslator

PRESETS = {"tiny": tiny_components, "small": small_random_components, "sd15": sd15_random_components}


def unet_gflops(make: object, width: int, height: int, frames: int) -> float:
    """GFLOPs of one UNet call over ``frames`` frames at one step (meta device: shapes only)."""
    with torch.device("meta"):
        c: Live2DiffComponents = make()  # type: ignore[operator]
        x = torch.randn(1, 4, frames, height // 8, width // 8)  # (B, C, F, h, w)
        text = torch.randn(frames, 77, c.text_encoder.config.hidden_size)
        depth = torch.randn(frames, 4, height // 8, width // 8)
        counter = FlopCounterMode(display=False)
        with counter:
            c.unet(x, torch.tensor([500]), text, depth)
    return counter.get_total_flops() / 1e9


def measure(preset: str, width: int, height: int, switches: int, steady: int) -> dict[str, float]:
    """Median steady frame interval and hold per switch (ms) on this CPU."""
    components = PRESETS[preset]()
    a = StreamConfig(height=height, width=width, t_index_list=(30, 40), seed=1)
    b = StreamConfig(height=height, width=width, t_index_list=(20, 35), seed=2)
    translator = FrameTranslator(Live2DiffStream(components, a))
    translator.stream.set_prompt("a cartoon portrait")
    g = torch.Generator().manual_seed(0)
    frames = [(torch.rand(height, width, 3, generator=g) * 255).to(torch.uint8).numpy() for _ in range(16)]
    i = 0

    def push() -> list[tuple[int, object]]:
        nonlocal i
        i += 1
        return translator.push(frames[i % len(frames)])  # type: ignore[return-value]

    while not push() or i < a.causal.warmup + 4:  # warm: sinks, pipeline, allocator
        pass
    intervals, holds = [], []
    for k in range(switches):
        last = time.perf_counter()
        for _ in range(steady):  # steady frames in the old style
            push()
            now = time.perf_counter()
            intervals.append(now - last)
            last = now
        config, prompt = (b, "an oil painting") if k % 2 == 0 else (a, "a cartoon portrait")
        out = translator.set_style(config, prompt)  # what the engine does between two frames
        while not out:  # fewer frames in flight than steps: the first new-style frame needs the next input
            out = push()  # type: ignore[assignment]
        holds.append(time.perf_counter() - last)
    return {"frame_ms": 1000 * statistics.median(intervals), "hold_ms": 1000 * statistics.median(holds),
            "hold_max_ms": 1000 * max(holds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--size", default="256x144", help="WxH")
    parser.add_argument("--switches", type=int, default=6)
    parser.add_argument("--steady", type=int, default=4, help="old-style frames before each switch")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}, {args.threads} thread(s), {width}x{height}, "
          "2 steps, warmup 8\n")
    print("| preset | size | steady frame ms | hold per switch ms (median / max) | hold / frame | "
          "UNet GFLOP frame-step | warmup pass GFLOP |\n|---|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        r = measure(preset, width, height, args.switches, args.steady)
        step, warm = unet_gflops(PRESETS[preset], width, height, 1), unet_gflops(PRESETS[preset], width, height, 8)
        print(f"| {preset} | {width}x{height} | {r['frame_ms']:.0f} | {r['hold_ms']:.0f} / {r['hold_max_ms']:.0f} | "
              f"{r['hold_ms'] / r['frame_ms']:.1f} | {step:.1f} | {2 * warm:.1f} |", flush=True)
    print("\nSD1.5 layout (FLOPs only; 2 steps): one frame = 2 frame-steps, a re-warm = 8 frames x 2 steps")
    for w, h in ((512, 512), (768, 432)):
        step, warm = unet_gflops(sd15_random_components, w, h, 1), unet_gflops(sd15_random_components, w, h, 8)
        print(f"  {w}x{h}: frame-step {step:.0f} GFLOP, steady frame {2 * step / 1000:.2f} TFLOP, "
              f"re-warm {2 * warm / 1000:.1f} TFLOP")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
