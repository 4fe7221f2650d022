"""Transitions measured in process (imported by benchmark_switch.py --transitions): cut vs crossfade.

For each preset one FrameTranslator streams a moving test pattern (warmup, steady state), then
switches style A -> B (another prompt, seed and strength, same models) in three ways:

    cut                hold-then-cut: set_style(B) (one re-warm pass)
    crossfade rewarm   F frames of slerped embeddings / noise and lerped steps, then re-warm in B
    crossfade refresh  the same F frames, then keep the sinks and let the window refresh

and reports the per-frame cost (ms) in steady state, during the blend and on the settling frame,
and the mean absolute frame-to-frame difference of the output (uint8 levels) over the transition
window (the frames from the switch to F + 4 frames after it) beside the steady-state value, plus
the largest single jump (a cut's visible pop).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from live2diff_broadcast.engine.components import (
    Live2DiffComponents,
    small_random_components,
    tiny_components,
)
from live2diff_broadcast.engine.config import StreamConfig
from live2diff_broadcast.engine.stream import Live2DiffStream
from live2diff_broadcast.engine.translator import FrameTranslator

PRESETS = {"tiny": (tiny_components, 64), "small": (small_random_components, 128)}
A_PROMPT, B_PROMPT = "anime portrait, clean lines", "oil painting, thick brush strokes"


def pattern(i: int, size: int) -> np.ndarray:
    """A gradient with a disc moving 2 px per frame (consecutive inputs are close, as from a camera)."""
    y, x = np.mgrid[0:size, 0:size]
    cx, cy = (size // 4 + 2 * i) % size, size // 2
    disc = ((x - cx) ** 2 + (y - cy) ** 2 < (size // 6) ** 2) * 160
    img = np.stack([x * 255 // size, y * 255 // size, np.full_like(x, 90)], -1) + disc[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Run:
    steady_ms: float
    blend_ms: float
    settle_ms: float
    steady_diff: float
    window_diff: float
    max_jump: float


def run(components: Live2DiffComponents, size: int, mode: str, fade: int, steady: int) -> Run:
    a = StreamConfig(height=size, width=size, t_index_list=(30, 40), seed=1)
    b = StreamConfig(height=size, width=size, t_index_list=(20, 35), seed=7)
    stream = Live2DiffStream(copy.deepcopy(components), a)
    stream.set_prompt(A_PROMPT)
    t = FrameTranslator(stream)
    out: dict[int, np.ndarray] = {}
    times: list[float] = []
    i = 0

    def push(n: int) -> None:
        nonlocal i
        for _ in range(n):
            started = time.perf_counter()
            for index, frame in t.push(pattern(i, size)):
                out[index] = frame
            times.append((time.perf_counter() - started) * 1e3)
            i += 1

    push(a.causal.warmup + steady)
    steady_ms = float(np.median(times[-steady:]))
    switch_at = i
    started = time.perf_counter()
    if mode == "cut":
        for index, frame in t.set_style(b, B_PROMPT):
            out[index] = frame
        settle_ms = (time.perf_counter() - started) * 1e3
        push(fade + 4)
        blend_ms = float(np.median(times[-(fade + 4):]))
    else:
        t.crossfade(b, B_PROMPT, fade, settle="rewarm" if mode == "crossfade rewarm" else "refresh")
        push(fade - 1)
        blend_ms = float(np.median(times[-(fade - 1):])) if fade > 1 else 0.0
        push(1)  # the last blend frame, then the settle
        settle_ms = times[-1]
        push(4)
    for index, frame in t.flush():
        out[index] = frame
    assert sorted(out) == list(range(i)), "a transition skipped or repeated a frame"
    frames = [out[k].astype(np.int16) for k in range(i)]
    diffs = [float(np.abs(frames[k] - frames[k - 1]).mean()) for k in range(1, i)]
    lo = switch_at - 1 - 1  # diffs[k-1] compares output k with k-1; the pipeline lags one frame at 2 steps
    window = diffs[lo: lo + fade + 5]
    steady_diffs = diffs[a.causal.warmup: switch_at - 2]
    return Run(steady_ms, blend_ms, settle_ms, float(np.mean(steady_diffs)), float(np.mean(window)), max(window))


def main(presets: list[str], fade: int, steady: int, threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
    print(f"\ntransitions A -> B (same models; other prompt, seed, strength), crossfade over {fade} frames, CPU, "
          f"random weights, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"{'preset':7s} {'transition':18s} {'steady ms':>9s} {'blend ms':>9s} {'settle ms':>9s} "
          f"{'steady diff':>11s} {'window diff':>11s} {'ratio':>6s} {'max jump':>8s}")
    for preset in presets:
        build, size = PRESETS[preset]
        components = build()
        for mode in ("cut", "crossfade rewarm", "crossfade refresh"):
            r = run(components, size, mode, fade, steady)
            print(f"{preset:7s} {mode:18s} {r.steady_ms:9.1f} {r.blend_ms:9.1f} {r.settle_ms:9.1f} "
                  f"{r.steady_diff:11.2f} {r.window_diff:11.2f} {r.window_diff / r.steady_diff:6.2f} {r.max_jump:8.2f}")
