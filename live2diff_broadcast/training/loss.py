"""The noise-prediction objective on chunks of consecutive frames.

Per chunk (one batch row): a timestep t ~ U{0..999} shared by its F frames and Gaussian noise
(4, F, h, w), both drawn from a generator seeded by (seed, epoch, chunk index), so the draw belongs
to the chunk, not to the process or the batch it lands in. The model predicts the noise of
x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps from x_t, t, the caption and the clean depth latents;
the loss is the MSE to eps over every frame (AnimateDiff's objective; the frames' own causal mask
is inside the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.components import Live2DiffComponents
from ..engine.noise import noise_seed
from ..engine.text import PromptEncoder
from ..engine.vae import LatentCodec


@dataclass
class EncodedChunk:
    latents: torch.Tensor  # (B, 4, F, h, w) clean
    depth: torch.Tensor  # (B*F, 4, h, w) clean depth latents, frame-major within each row
    text: torch.Tensor  # (B*F, L, D)


class ChunkEncoder:
    """The frozen parts: TAESD latents, DPT depth -> latents, CLIP text (all without gradients)."""

    def __init__(self, components: Live2DiffComponents, clip_skip: int = 1) -> None:
        self.components = components
        self.codec = LatentCodec(components.vae)
        self.prompts = PromptEncoder(components.tokenizer, components.text_encoder, clip_skip)
        self._text_cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor, captions: list[str], with_depth: bool) -> EncodedChunk:
        """frames (B, F, 3, H, W) in [0, 1] on the model's device."""
        b, f = frames.shape[:2]
        flat = frames.flatten(0, 1)  # (B*F, 3, H, W)
        latents = self.codec.encode(flat)  # (B*F, 4, h, w)
        if with_depth:
            depth_map = self.components.depth(flat)  # (B*F, 1, H, W)
            depth = self.codec.encode(depth_map.expand(-1, 3, -1, -1))
        else:
            depth = torch.zeros_like(latents)
        text = torch.cat([self._text(c) for c in captions]).to(latents)  # (B, L, D)
        latents = latents.view(b, f, *latents.shape[1:]).transpose(1, 2)  # (B, 4, F, h, w)
        return EncodedChunk(latents.contiguous(), depth, text.repeat_interleave(f, dim=0))

    def _text(self, caption: str) -> torch.Tensor:
        if caption not in self._text_cache:
            if len(self._text_cache) > 4096:
                self._text_cache.clear()
            self._text_cache[caption] = self.prompts(caption)
        return self._text_cache[caption]


def draw_noise(
    indices: torch.Tensor, epoch: int, seed: int, shape: tuple[int, ...], num_train_timesteps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per chunk: (timesteps (B,) long, noise (B, *shape) float32), keyed by (seed, epoch, index)."""
    timesteps, noise = [], []
    for index in indices.tolist():
        g = torch.Generator().manual_seed(noise_seed(seed, int(index), 1_000_000 + epoch))
        timesteps.append(int(torch.randint(0, num_train_timesteps, (1,), generator=g)))
        noise.append(torch.randn(shape, generator=g))
    return torch.tensor(timesteps), torch.stack(noise)


def noise_prediction_loss(
    model: nn.Module,
    chunk: EncodedChunk,
    indices: torch.Tensor,
    epoch: int,
    seed: int,
    alphas_cumprod: torch.Tensor,
) -> torch.Tensor:
    latents = chunk.latents
    timesteps, noise = draw_noise(indices, epoch, seed, tuple(latents.shape[1:]), len(alphas_cumprod))
    timesteps, noise = timesteps.to(latents.device), noise.to(latents)
    a = alphas_cumprod.to(latents.device, torch.float64)[timesteps].to(latents.dtype).view(-1, 1, 1, 1, 1)
    noisy = a.sqrt() * latents + (1 - a).sqrt() * noise  # (B, 4, F, h, w)
    pred = model(noisy, timesteps, chunk.text, chunk.depth)
    return F.mse_loss(pred.float(), noise.float()) if pred.dtype != torch.float64 else F.mse_loss(pred, noise)
