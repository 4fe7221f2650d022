"""TAESD (diffusers AutoencoderTiny) encode / decode between images in [0, 1] and latents."""

from __future__ import annotations

import torch
from diffusers import AutoencoderTiny


class LatentCodec:
    """images (B, 3, H, W) in [0, 1] <-> latents (B, 4, H/8, W/8) in the UNet's scale."""

    def __init__(self, vae: AutoencoderTiny) -> None:
        self.vae = vae
        self.scaling = float(vae.config.scaling_factor)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(images * 2 - 1).latents * self.scaling

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.vae.decode(latents / self.scaling).sample
        return ((images + 1) / 2).clamp(0, 1)
