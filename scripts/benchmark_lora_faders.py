"""What a live LoRA fader move costs on the full-size SD1.5 architecture (random weights).

Builds the SD1.5 UNet + CLIP text encoder from configs (``sd15_random_components``, nothing
downloaded), a kohya LoRA of rank ``--rank`` on every layer kohya's default trainer targets
(the spatial transformers' attention, feed-forward and proj_in/out Linear/1x1 layers, and the
text encoder's attention and MLP), and times ``LoraFaders.apply`` after one move, next to one
steady UNet stream call of the same size on the same device. Also prints the base weights a
fader keeps (host memory, and device memory after the first move).

    .venv/bin/python scripts/benchmark_lora_faders.py [--device cpu|cuda] [--dtype float32|float16] [--rank 16] [--moves 5]

A move costs nothing per frame afterwards: the weights are merged, the UNet runs as before.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from live2diff_broadcast.engine.components import sd15_random_components
from live2diff_broadcast.weights.lora import LoraFile, merge_planned, parse_lora, plan_merge
from live2diff_broadcast.weights.lora_faders import LoraFaders, faders_for

_UNET_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v",
                 "attn2.to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")
_TEXT_TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2")


def kohya_lora(spatial: dict[str, torch.Tensor], text: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    """A kohya-format LoRA state dict (lora_unet_* / lora_te_*) on the usual target layers."""
    g = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for prefix, weights, targets in (("lora_unet_", spatial, _UNET_TARGETS), ("lora_te_text_model_", text, _TEXT_TARGETS)):
        for key, w in weights.items():
            module = key.removesuffix(".weight")
            if not key.endswith(".weight") or not module.endswith(targets) or "motion_modules" in key or w.ndim < 2:
                continue
            name = prefix + module.replace(".", "_")
            down_shape = (rank, w.shape[1], *([1, 1] if w.ndim == 4 else []))
            up_shape = (w.shape[0], rank, *([1, 1] if w.ndim == 4 else []))
            state[f"{name}.lora_down.weight"] = torch.randn(*down_shape, generator=g) * 0.01
            state[f"{name}.lora_up.weight"] = torch.randn(*up_shape, generator=g) * 0.01
            state[f"{name}.alpha"] = torch.tensor(float(rank))
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--moves", type=int, default=5)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    c = sd15_random_components()
    spatial = {k: v.detach().clone() for k, v in c.unet.unet.state_dict().items() if "motion_modules" not in k}
    text = {k: v.detach().clone() for k, v in c.text_encoder.state_dict().items()}
    lora: LoraFile = parse_lora(kohya_lora(spatial, text, args.rank), Path("bench_lora.safetensors"), 1.0)
    weights = {"unet": spatial, "text_encoder": text}
    plans = plan_merge([lora], weights)
    faded, base = faders_for([lora], ["bench"], plans, weights)
    merge_planned([lora], plans, weights)
    c.unet.unet.load_state_dict(spatial, strict=False)
    c.text_encoder.load_state_dict(text)
    c.to(device, dtype)
    faders = LoraFaders(faded, base, {"unet": c.unet.unet, "text_encoder": c.text_encoder})
    base_mb = sum(t.numel() * t.element_size() for t in base.values()) / 2**20
    print(f"device={device} dtype={dtype} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"(random weights: speed only)")
    print(f"LoRA: rank {args.rank}, {len(plans[0])} layers; base weights kept: {len(base)} tensors, {base_mb:.0f} MiB "
          f"(host; the same again on the device after the first move)")

    times = []
    for i in range(args.moves + 1):  # the first move also copies the base weights to the device
        faders.move("bench", 0.2 + 0.6 * (i % 2))
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        faders.apply()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    steady = times[1:]
    print(f"fader move (recompute + write every touched weight): first {times[0]:.0f} ms, "
          f"then median {statistics.median(steady):.0f} ms (min {min(steady):.0f}, max {max(steady):.0f}) over {len(steady)} moves")
    print(f"unet step for comparison: {unet_ms(c, device, dtype):.0f} ms (one 512x512 frame, 2 steps, plain forward)")


@torch.no_grad()
def unet_ms(c, device: torch.device, dtype: torch.dtype) -> float:  # type: ignore[no-untyped-def]
    """One plain UNet forward on 2 rows of one 64x64-latent frame (the work of a 2-step stream call, no cache)."""
    x = torch.randn(2, 4, 1, 64, 64, device=device, dtype=dtype)
    text = torch.randn(2, 77, 768, device=device, dtype=dtype)
    depth = torch.randn(2, 4, 64, 64, device=device, dtype=dtype)
    t = torch.tensor([500, 250], device=device)
    c.unet(x, t, text, depth)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    c.unet(x, t, text, depth)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


if __name__ == "__main__":
    main()
