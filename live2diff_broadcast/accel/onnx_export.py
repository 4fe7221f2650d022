"""ONNX export of the stream UNet call, TAESD encoder/decoder and the DPT depth model.

All graphs have STATIC shapes (one engine per resolution / step count / window), which is what
TensorRT wants and lets every buffer be preallocated. Exported with the TorchScript exporter
(``dynamo=False``), opset 17 by default; models over 2 GB are written with external data.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderTiny
from torch import nn
from transformers import DPTForDepthEstimation

from ..engine.config import CausalWindow
from ..engine.kv_cache import plan_row
from ..engine.stream_graph import StreamUNetGraph, input_names, output_names
from ..engine.unet import Live2DiffUNet
from .geometry import layer_geometry

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class StreamGraphSpec:
    """Everything that fixes the stream graph's static shapes."""

    height: int  # pixels
    width: int
    num_steps: int  # n: rows per call
    causal: CausalWindow
    text_len: int  # L of the text embeddings (77 for CLIP)
    text_dim: int  # D (768 for SD1.5)

    @property
    def latent_hw(self) -> tuple[int, int]:
        return self.height // 8, self.width // 8


def stream_example_inputs(
    unet: Live2DiffUNet, spec: StreamGraphSpec, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    """Inputs with the graph's exact shapes and dtypes (caches zero, rows as in a full window)."""
    n, (h, w), causal = spec.num_steps, spec.latent_hw, spec.causal
    plans = [plan_row(causal.window + r, causal) for r in range(n)]
    latents = torch.randn(n, 4, 1, h, w, device=device, dtype=dtype)
    timesteps = torch.arange(n, device=device, dtype=torch.long) * 100 + 199
    text = torch.randn(n, spec.text_len, spec.text_dim, device=device, dtype=dtype)
    depth = torch.randn(n, 4, h, w, device=device, dtype=dtype)
    key_positions = torch.tensor([p.key_positions for p in plans], device=device)
    key_bias = torch.where(torch.tensor([p.key_valid for p in plans], device=device), 0.0, float("-inf")).to(dtype)
    query_position = torch.tensor([p.query_position for p in plans], device=device)
    write_slot = torch.tensor([p.write_slot for p in plans], device=device)
    caches = [
        torch.zeros(g.cache_shape(n, causal), device=device, dtype=dtype)
        for g in layer_geometry(unet.unet, h, w)
        for _ in ("k", "v")
    ]
    return (latents, timesteps, text, depth, key_positions, key_bias, query_position, write_slot, *caches)


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str], outputs: list[str], opset: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape asserts in diffusers: static shapes
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    logger.info("exported %s (%.1f MiB) in %.1f s", path, _onnx_size(path) / 2**20, time.monotonic() - start)
    return path


def _onnx_size(path: Path) -> int:
    """Graph file plus any external-data files written next to it."""
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())


def export_stream_unet(
    unet: Live2DiffUNet, spec: StreamGraphSpec, path: Path, opset: int = DEFAULT_OPSET
) -> Path:
    """Export ``StreamUNetGraph`` (motion modules and depth adapter included), static shapes.

    Inputs: latents (n,4,1,h,w), timesteps (n,), text (n,L,D), depth (n,4,h,w), key_positions
    (n,W), key_bias (n,W), query_position (n,), write_slot (n,), then K and V caches of every
    layer (n,HW,heads,W+1,d). Outputs: eps, then new K and V rows of every layer (n,HW,heads,d).
    """
    param = next(unet.parameters())
    graph = StreamUNetGraph(unet).eval()
    args = stream_example_inputs(unet, spec, param.device, param.dtype)
    return _export(graph, args, path, input_names(graph.num_layers), output_names(graph.num_layers), opset)


class TaesdEncoder(nn.Module):
    """images (B, 3, H, W) in [0, 1] -> latents (B, 4, H/8, W/8) in the UNet's scale."""

    def __init__(self, vae: AutoencoderTiny) -> None:
        super().__init__()
        self.encoder, self.scaling = vae.encoder, float(vae.config.scaling_factor)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images * 2 - 1) * self.scaling


class TaesdDecoder(nn.Module):
    """latents (B, 4, h, w) in the UNet's scale -> images (B, 3, 8h, 8w) in [0, 1]."""

    def __init__(self, vae: AutoencoderTiny) -> None:
        super().__init__()
        self.decoder, self.scaling = vae.decoder, float(vae.config.scaling_factor)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return ((self.decoder(latents / self.scaling) + 1) / 2).clamp(0, 1)


class DptCore(nn.Module):
    """pixel_values (B, 3, S, S) normalised -> predicted relative inverse depth (B, S', S')."""

    def __init__(self, model: DPTForDepthEstimation) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).predicted_depth


def export_taesd_encoder(vae: AutoencoderTiny, height: int, width: int, path: Path, batch: int = 1,
                         opset: int = DEFAULT_OPSET) -> Path:
    """TAESD encoder with the [0,1] -> [-1,1] mapping and latent scaling inside, static size."""
    param = next(vae.parameters())
    images = torch.rand(batch, 3, height, width, device=param.device, dtype=param.dtype)
    return _export(TaesdEncoder(vae).eval(), (images,), path, ["images"], ["latents"], opset)


def export_taesd_decoder(vae: AutoencoderTiny, height: int, width: int, path: Path, batch: int = 1,
                         opset: int = DEFAULT_OPSET) -> Path:
    """TAESD decoder with the unscaling and the [-1,1] -> [0,1] clamp inside, static size."""
    param = next(vae.parameters())
    latents = torch.randn(batch, 4, height // 8, width // 8, device=param.device, dtype=param.dtype)
    return _export(TaesdDecoder(vae).eval(), (latents,), path, ["latents"], ["images"], opset)


def export_taesd(vae: AutoencoderTiny, height: int, width: int, batch: int, folder: Path,
                 opset: int = DEFAULT_OPSET) -> tuple[Path, Path]:
    """Both TAESD halves into ``folder``."""
    return (export_taesd_encoder(vae, height, width, folder / "taesd_encoder.onnx", batch, opset),
            export_taesd_decoder(vae, height, width, folder / "taesd_decoder.onnx", batch, opset))


def export_depth(model: DPTForDepthEstimation, input_size: int, path: Path, batch: int = 1, opset: int = DEFAULT_OPSET) -> Path:
    """The DPT network alone (pre/post-processing stay in torch: ``OrtDepthEstimator``)."""
    param = next(model.parameters())
    pixels = torch.randn(batch, 3, input_size, input_size, device=param.device, dtype=param.dtype)
    return _export(DptCore(model).eval(), (pixels,), path, ["pixel_values"], ["predicted_depth"], opset)
