"""Depth model and TAESD on onnxruntime, behind the same calls as the PyTorch ones.

``OrtDepthEstimator`` keeps DPTDepthEstimator's pre/post-processing (squash or letterbox, resize,
normalisation: ``engine/depth.py``'s ``estimate``) in torch and runs only the network in onnxruntime; ``OrtLatentCodec``
has LatentCodec's encode/decode. Shapes are static: each session serves one batch and size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..engine.config import DepthResize
from ..engine.depth import RawDepth, estimate
from .ort_session import bind, make_session


class OrtModel:
    """One single-input, single-output static-shape session, called with torch tensors."""

    def __init__(self, session: Any, dtype: torch.dtype) -> None:
        self.session, self.dtype = session, dtype
        (inp,), (out,) = session.get_inputs(), session.get_outputs()
        self.input_name, self.input_shape = inp.name, tuple(inp.shape)
        self.output_name, self.output_shape = out.name, tuple(out.shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (k * B, ...) for the model's static batch B: run in chunks of B, concatenated."""
        batch = self.input_shape[0]
        if tuple(x.shape[1:]) != self.input_shape[1:] or x.shape[0] % batch:
            raise ValueError(f"{self.input_name}: this ONNX model takes shape {self.input_shape} "
                             f"(or a multiple of its batch), got {tuple(x.shape)}")
        if x.shape[0] > batch:
            return torch.cat([self._run(chunk) for chunk in x.split(batch)])
        return self._run(x)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype).contiguous()
        out = torch.empty(self.output_shape, device=x.device, dtype=self.dtype)
        binding = self.session.io_binding()
        bind(binding, self.input_name, x)
        bind(binding, self.output_name, out, output=True)
        binding.synchronize_inputs()
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return out


class OrtDepthEstimator:
    """Same contract as DPTDepthEstimator (``raw`` / ``__call__``), the network on onnxruntime."""

    def __init__(
        self,
        model: OrtModel,
        input_size: int,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
    ) -> None:
        self.model, self.input_size = model, input_size
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    @classmethod
    def from_file(cls, path: Path, input_size: int, device: torch.device, dtype: torch.dtype,
                  prefer_tensorrt: bool = False) -> OrtDepthEstimator:
        return cls(OrtModel(make_session(path, device, prefer_tensorrt), dtype), input_size)

    @torch.no_grad()
    def raw(self, images: torch.Tensor, resize: DepthResize = "squash") -> RawDepth:
        return estimate(images, self.model, self.input_size, resize, self.mean, self.std)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, resize: DepthResize = "squash") -> torch.Tensor:
        return self.raw(images, resize).normalised()


class OrtLatentCodec:
    """LatentCodec on onnxruntime: images (B, 3, H, W) in [0, 1] <-> latents (B, 4, H/8, W/8)."""

    def __init__(self, encoder: OrtModel, decoder: OrtModel) -> None:
        self.encoder, self.decoder = encoder, decoder

    @classmethod
    def from_files(cls, encoder: Path, decoder: Path, device: torch.device, dtype: torch.dtype,
                   prefer_tensorrt: bool = False) -> OrtLatentCodec:
        return cls(OrtModel(make_session(encoder, device, prefer_tensorrt), dtype),
                   OrtModel(make_session(decoder, device, prefer_tensorrt), dtype))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images).to(images.dtype)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents).to(latents.dtype)
