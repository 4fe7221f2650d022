"""The Live2Diff denoiser: SD1.5 UNet + AnimateDiff-v1 motion modules + depth adapter.

Built on diffusers' ``UNetMotionModel`` (no hand-written UNet). Two deliberate changes to the
stock model, both needed for causal streaming and both matching the original AnimateDiff code
that Live2Diff was trained with:

* ``FramewiseGroupNorm``: diffusers' ``AnimateDiffTransformer3D`` normalises over (C, F, H, W)
  jointly, so its statistics mix every frame of the clip, future frames included. The original
  AnimateDiff normalises each frame on its own ("b c f h w -> (b f) c h w"). We swap in a
  GroupNorm with the same parameters that does the latter, which makes each frame's output
  independent of later frames, as uni-directional attention requires.
* the depth adapter's output is added to ``conv_in``'s output at every call, through a forward
  hook, so the UNet's own module tree (and so its weight names) stays exactly diffusers'.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D
from torch import nn

from .diffusers_log import no_empty_fp32_warning

# The depth adapter ("MappingNetwork", keys ``flow_conv_in.*``) of the Live2Diff checkpoint.
DEPTH_ADAPTER_CHANNELS: tuple[int, ...] = (16, 16, 32, 32, 96, 96, 256)


class DepthAdapter(nn.Module):
    """Maps a clean depth latent to a residual on the UNet's ``conv_in`` features.

    conv_in 4 -> c0, six 3x3 blocks c_i -> c_{i+1}, conv_out -> ``out_channels`` (zero-initialised,
    so a fresh adapter changes nothing). SiLU after every conv except conv_out.
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 320,
        channels: Sequence[int] = DEPTH_ADAPTER_CHANNELS,
    ) -> None:
        super().__init__()
        if len(channels) < 1:
            raise ValueError("DepthAdapter needs at least one hidden channel count")
        self.conv_in = nn.Conv2d(in_channels, channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size=3, padding=1) for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )
        self.conv_out = nn.Conv2d(channels[-1], out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        if self.conv_out.bias is not None:
            nn.init.zeros_(self.conv_out.bias)

    def forward(self, depth_latent: torch.Tensor) -> torch.Tensor:
        """(N, 4, h, w) depth latent -> (N, out_channels, h, w) conv_in residual."""
        x = F.silu(self.conv_in(depth_latent))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(x)


class FramewiseGroupNorm(nn.GroupNorm):
    """GroupNorm that normalises each frame of a (B, C, F, H, W) tensor on its own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            return super().forward(x)
        b, c, f, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)  # (B*F, C, H, W)
        frames = F.group_norm(frames, self.num_groups, self.weight, self.bias, self.eps)
        return frames.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)  # (B, C, F, H, W)


def motion_transformers(unet: UNetMotionModel) -> Iterator[AnimateDiffTransformer3D]:
    """Every AnimateDiff temporal transformer of the UNet, in module order."""
    for module in unet.modules():
        if isinstance(module, AnimateDiffTransformer3D):
            yield module


def make_norms_framewise(unet: UNetMotionModel) -> None:
    """Swap each motion module's GroupNorm for a FramewiseGroupNorm sharing its parameters."""
    for transformer in motion_transformers(unet):
        old = transformer.norm
        if isinstance(old, FramewiseGroupNorm):
            continue
        new = FramewiseGroupNorm(old.num_groups, old.num_channels, eps=old.eps, affine=old.affine)
        new.weight, new.bias = old.weight, old.bias
        transformer.norm = new


def build_motion_unet(unet2d: UNet2DConditionModel, motion_adapter: MotionAdapter) -> UNetMotionModel:
    """SD1.5 UNet + motion adapter -> a UNetMotionModel with per-frame motion-module norms."""
    if motion_adapter.config.use_motion_mid_block:
        raise ValueError(
            "Live2Diff uses AnimateDiff-v1 motion modules (no mid-block module); "
            "got a MotionAdapter with use_motion_mid_block=True (AnimateDiff v2/v3?)"
        )
    with no_empty_fp32_warning():  # from_unet2d casts to the 2D UNet's dtype: diffusers' false alarm
        unet = UNetMotionModel.from_unet2d(unet2d, motion_adapter)
    make_norms_framewise(unet)
    return unet


class Live2DiffUNet(nn.Module):
    """One denoiser for warmup and streaming: motion UNet + depth adapter.

    ``forward`` takes latents (B, 4, F, h, w), one timestep per batch row, text embeddings for
    each of the B*F frames and the clean depth latents of those frames, and returns the noise
    prediction (B, 4, F, h, w). Which frames a frame's temporal attention sees is decided by the
    attention processors installed on the motion modules (see ``attention.py``).
    """

    def __init__(self, unet: UNetMotionModel, depth_adapter: DepthAdapter) -> None:
        super().__init__()
        conv_in_channels = unet.conv_in.out_channels
        if depth_adapter.conv_out.out_channels != conv_in_channels:
            raise ValueError(
                f"depth adapter outputs {depth_adapter.conv_out.out_channels} channels, "
                f"the UNet's conv_in outputs {conv_in_channels}"
            )
        self.unet = unet
        self.depth_adapter = depth_adapter
        self._depth_latents: torch.Tensor | None = None
        self.unet.conv_in.register_forward_hook(self._add_depth_residual)

    def _add_depth_residual(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        if self._depth_latents is None:
            raise RuntimeError("Live2DiffUNet.conv_in ran without depth latents: call Live2DiffUNet.forward")
        return output + self.depth_adapter(self._depth_latents)

    def forward(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor,
        text_embeds: torch.Tensor,
        depth_latents: torch.Tensor,
    ) -> torch.Tensor:
        """
        Args:
            latents: (B, 4, F, h, w) noisy latents.
            timesteps: (B,) one timestep per batch row (rows may sit at different noise levels).
            text_embeds: (B*F, L, D) text embeddings, frame-major within each row.
            depth_latents: (B*F, 4, h, w) clean depth latents, same order.
        Returns:
            (B, 4, F, h, w) predicted noise.
        """
        b, _, f, _, _ = latents.shape
        if depth_latents.shape[0] != b * f or text_embeds.shape[0] != b * f:
            raise ValueError(
                f"expected {b * f} depth latents and text embeddings for {b} rows x {f} frames, "
                f"got {depth_latents.shape[0]} and {text_embeds.shape[0]}"
            )
        self._depth_latents = depth_latents
        try:
            return self.unet(latents, timesteps, encoder_hidden_states=text_embeds).sample
        finally:
            self._depth_latents = None
