"""Style switch latency: control input (key press) -> first frame in the new style at the sink.

Runs the whole broadcast (synthetic source -> supervisor -> engine process -> a null sink) on a
tiny model zoo written into a temp dir in the REAL on-disk layouts (diffusers SD folder, Live2Diff
checkpoint, TAESD, DPT, a kohya LoRA, an LDM single-file style checkpoint), the 'live2diff'
preset, and switches styles the way a hotkey does (a SelectStyle stamped at the input):

    prompt        same models: prompt / seed re-encoded, re-warm in place
    lora cold     another LoRA set: prepared in the background, swapped, re-warmed
    lora cached   back to a set still in the engine's LRU
    base from cache  back to the profile's own models, parked in the LRU
    ckpt cold     another style checkpoint (single file, converted), background
    ckpt cached

Measured on the dev machine (2 shared cores), 64x64, source 30 fps, engine 30 fps:

    switch                               n  median ms   min ms   max ms
    prompt                               6         98       92      100
    lora cold                            1        367      367      367
    base from cache                      7         98       96      100
    lora cached                          3        100      100      100
    ckpt cold                            1        366      366      366
    ckpt cached                          3        100       98      101

    .venv/bin/python scripts/benchmark_switch.py [--size 64] [--repeats 3] [--fps 30]

``--transitions`` instead measures cut vs crossfade in process (``scripts/transition_bench.py``):
per-frame cost during a blend vs steady state, and the mean frame-to-frame difference of the
output during a crossfade vs during a cut (tiny and small presets):

    .venv/bin/python scripts/benchmark_switch.py --transitions [--presets tiny,small] [--fade 12]

CPU with random tiny weights: the numbers show the switching machinery (re-warm, background
load, swap) relative to the frame time, not real-model speed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' zoo writers

from live2diff_broadcast.config import Profile  # noqa: E402
from live2diff_broadcast.control import SelectStyle, StyleApplied  # noqa: E402
from live2diff_broadcast.engine.components import tiny_components  # noqa: E402
from live2diff_broadcast.media.frames import Frame, now_ns  # noqa: E402
from live2diff_broadcast.plugin_api import PluginSettings, Sink, Source  # noqa: E402
from live2diff_broadcast.runtime.supervisor import Supervisor, SupervisorOptions  # noqa: E402
from tests.weights import zoo  # noqa: E402


class SyntheticSource(Source):
    name = "synthetic"
    rate = 30.0

    def open(self) -> None:
        self.seq, self.next_at = 0, time.monotonic()

    @property
    def fps(self) -> float:
        return self.rate

    def read(self, timeout: float) -> Frame | None:
        delay = self.next_at - time.monotonic()
        if delay > timeout:
            time.sleep(timeout)
            return None
        time.sleep(max(0.0, delay))
        self.next_at += 1 / self.rate
        image = np.random.default_rng(self.seq).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        self.seq += 1
        return Frame(image, now_ns(), self.seq)


class NullSink(Sink):
    name = "null"

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def write(self, frame: Frame) -> None:
        pass


def write_zoo(root: Path) -> dict[str, str]:
    c = tiny_components(seed=0)
    zoo.write_base(c, root / "sd15")
    c.vae.save_pretrained(root / "taesd")
    c.depth.model.save_pretrained(root / "dpt")
    zoo.write_live2diff_ckpt(c, root / "live2diff.ckpt")
    g = torch.Generator().manual_seed(0)
    lcm = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.randn(4, 32, 1, 1, generator=g),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(32, 4, 1, 1),
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": torch.tensor(2.0),
    }
    zoo.write_safetensors(lcm, root / "lcm_lora.safetensors")
    style_lora = {
        "lora_unet_conv_in.lora_down.weight": torch.randn(2, 4, 3, 3, generator=g),
        "lora_unet_conv_in.lora_up.weight": torch.randn(32, 2, 1, 1, generator=g) * 0.1,
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.randn(2, 32, generator=g),
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.randn(32, 2, generator=g) * 0.1,
    }
    zoo.write_safetensors(style_lora, root / "toon_lora.safetensors")
    other = tiny_components(seed=1)
    zoo.write_safetensors(zoo.ldm_single_file_state(other), root / "style_ckpt.safetensors")
    return {k: str(root / v) for k, v in {
        "base": "sd15", "vae": "taesd", "depth": "dpt", "live2diff": "live2diff.ckpt", "lcm_lora": "lcm_lora.safetensors",
        "lora": "toon_lora.safetensors", "ckpt": "style_ckpt.safetensors"}.items()}


def profile_for(files: dict[str, str], size: int) -> Profile:
    models = {k: files[k] for k in ("base", "vae", "depth", "live2diff", "lcm_lora")}
    return Profile(
        models={"preset": "live2diff", "auto_download": False, **models},
        engine={"width": size, "height": size, "device": "cpu", "warmup": 4, "window": 8},
        styles=[
            {"name": "anime", "prompt": "anime"},
            {"name": "sketch", "prompt": "pencil sketch", "seed": 3},
            {"name": "toon", "prompt": "toon", "loras": [{"path": files["lora"]}]},
            {"name": "painted", "prompt": "painted", "style_checkpoint": files["ckpt"]},
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one switch")
    parser.add_argument("--transitions", action="store_true", help="cut vs crossfade, in process (see above)")
    parser.add_argument("--presets", default="tiny,small", help="--transitions: model presets")
    parser.add_argument("--fade", type=int, default=12, help="--transitions: crossfade length in frames")
    parser.add_argument("--steady", type=int, default=12, help="--transitions: steady-state frames before the switch")
    parser.add_argument("--threads", type=int, default=None, help="--transitions: torch threads")
    args = parser.parse_args()
    if args.transitions:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from transition_bench import main as transitions

        transitions(args.presets.split(","), args.fade, args.steady, args.threads)
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    SyntheticSource.rate = args.fps
    with tempfile.TemporaryDirectory(prefix="l2d-switch-") as tmp:
        profile = profile_for(write_zoo(Path(tmp)), args.size)
        sup = Supervisor(profile, lambda: SyntheticSource(PluginSettings()), lambda: NullSink(PluginSettings()),
                         options=SupervisorOptions(log_level=logging.WARNING))
        applied: list[StyleApplied] = []
        got = threading.Event()

        def on_event(event: object) -> None:
            if isinstance(event, StyleApplied):
                applied.append(event)
                got.set()

        sup.controls.subscribe(on_event)
        runner = threading.Thread(target=sup.run, kwargs={"duration": 3600}, daemon=True)
        runner.start()
        deadline = time.monotonic() + 300
        while sup.telemetry.snapshot().engine_state != "live":
            if time.monotonic() > deadline or not runner.is_alive():
                print("the engine never went live", file=sys.stderr)
                return 1
            time.sleep(0.1)
        time.sleep(1.0)  # steady state
        results: dict[str, list[float]] = {}

        def switch(kind: str, style: str) -> None:
            got.clear()
            before = len(applied)
            sup.controls.post(SelectStyle(style, origin="benchmark"))
            end = time.monotonic() + args.timeout
            while len(applied) == before:
                if time.monotonic() > end:
                    raise TimeoutError(f"switch to {style!r} did not reach the sink in {args.timeout:.0f} s")
                got.wait(0.05)
            results.setdefault(kind, []).append(applied[-1].latency_ms)
            time.sleep(0.5)

        try:
            for _ in range(args.repeats):
                switch("prompt", "sketch")
                switch("prompt", "anime")
            switch("lora cold", "toon")
            switch("base from cache", "anime")
            for _ in range(args.repeats):
                switch("lora cached", "toon")
                switch("base from cache", "anime")
            switch("ckpt cold", "painted")
            for _ in range(args.repeats):
                switch("base from cache", "anime")
                switch("ckpt cached", "painted")
            snap = sup.telemetry.snapshot()
        finally:
            sup.stop()
            runner.join(60)
    print(f"\nstyle switch latency, input -> first new-style frame at the sink ({args.size}x{args.size}, CPU, "
          f"tiny random weights, source {args.fps:.0f} fps, engine {snap.engine_fps:.1f} fps)\n")
    print(f"{'switch':34s} {'n':>3s} {'median ms':>10s} {'min ms':>8s} {'max ms':>8s}")
    for kind, values in results.items():
        print(f"{kind:34s} {len(values):3d} {statistics.median(values):10.0f} {min(values):8.0f} {max(values):8.0f}")
    print(f"\nengine frame latency p50 {snap.latency_p50_ms or 0:.0f} ms; switches {snap.switches}, failures "
          f"{snap.switch_failures}, engine restarts {snap.engine_restarts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
