"""Blending two styles that run on the same models: the math of a crossfade or a fader position.

A blend at position ``t`` in [0, 1] between style ends A and B (``BlendEnd``: prompt embeddings,
noise source, denoising steps) uses

- the prompt embeddings ``slerp(A, B, t)`` per token (along the embedding dimension);
- the per-frame noise ``slerp(noise_A(frame, step), noise_B(frame, step), t)`` (as the
  StreamDiffusion live fork does), which keeps the noise's variance where a lerp would shrink it;
- the denoising steps ``round((1 - t) * t_index_A + t * t_index_B)`` element by element (both
  strictly increasing lists of the same length stay strictly increasing after rounding);
- the guidance scale ``(1 - t) * g_A + t * g_B``.

At ``t == 0`` and ``t == 1`` every one of them is exactly A or B (no arithmetic), so a blend parked
at an end runs bit for bit the same as that style.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import StreamConfig
from .noise import NoiseSource

# Below this angle (radians) between two vectors slerp is numerically a lerp: use the lerp.
_PARALLEL = 1e-4


def check_position(t: float) -> float:
    """A blend position: a finite number in [0, 1] (ValueError naming it otherwise)."""
    if not isinstance(t, int | float) or math.isnan(t) or not 0.0 <= t <= 1.0:
        raise ValueError(f"blend position t must be a number in [0, 1] (0 = style A, 1 = style B), got {t!r}")
    return float(t)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, dim: int = -1) -> torch.Tensor:
    """Spherical interpolation of ``a`` and ``b`` (same shape) along ``dim``; exact at t = 0 and 1.

    Vectors along ``dim`` are interpolated on the great circle through them (raw vectors, so norms
    are interpolated too); nearly parallel pairs fall back to a lerp. Computed in float32.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    t = check_position(t)
    if t == 0.0:
        return a
    if t == 1.0:
        return b
    a32, b32 = a.float(), b.float()
    cos = torch.nn.functional.cosine_similarity(a32, b32, dim=dim, eps=1e-12).clamp(-1.0, 1.0).unsqueeze(dim)
    theta = torch.acos(cos)  # (..., 1, ...)
    sin = torch.sin(theta)
    parallel = theta < _PARALLEL
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    wa = torch.where(parallel, torch.full_like(theta, 1.0 - t), torch.sin((1.0 - t) * theta) / safe_sin)
    wb = torch.where(parallel, torch.full_like(theta, t), torch.sin(t * theta) / safe_sin)
    return (wa * a32 + wb * b32).to(a.dtype)


def lerp_t_index(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    """Denoising steps between two step lists of the same length (rounded half up; exact at the ends)."""
    if len(a) != len(b):
        raise ValueError(f"blending needs the same number of denoising steps, got {list(a)} and {list(b)}")
    t = check_position(t)
    if t == 0.0:
        return a
    if t == 1.0:
        return b
    return tuple(math.floor((1.0 - t) * x + t * y + 0.5) for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class BlendEnd:
    """One end of a blend: a style's stream settings, prompt and its encoded embeddings."""

    config: StreamConfig
    prompt: str
    embeds: torch.Tensor  # (1, L, D) on the stream's device and dtype
    noise: NoiseSource


def check_blendable(a: StreamConfig, b: StreamConfig) -> None:
    """Two styles blend when their steps count, resolution and window agree (ValueError saying which not)."""
    if a.num_steps != b.num_steps:
        raise ValueError(f"cannot blend styles with {a.num_steps} and {b.num_steps} denoising steps "
                         f"({list(a.t_index_list)} vs {list(b.t_index_list)}); switch with a cut instead")
    if (a.height, a.width, a.causal, a.num_schedule_steps) != (b.height, b.width, b.causal, b.num_schedule_steps):
        raise ValueError("cannot blend styles with another resolution, window or schedule; switch with a cut")


class BlendedNoise:
    """``noise(frame, step)`` of a blend strictly between its ends: the slerp of both ends' deterministic
    noise at ``t`` in (0, 1) (at 0 or 1 ``blend_point`` uses that end's own NoiseSource)."""

    def __init__(self, a: NoiseSource, b: NoiseSource, t: float) -> None:
        if not 0.0 < t < 1.0:
            raise ValueError(f"a blended noise lies strictly between its ends, t in (0, 1), got {t!r}")
        self.a, self.b, self.t = a, b, t

    def __call__(self, frame: int, step: int) -> torch.Tensor:
        return slerp(self.a(frame, step).flatten(), self.b(frame, step).flatten(), self.t).view(self.a.shape)


@dataclass(frozen=True)
class BlendPoint:
    """What the stream runs at blend position ``t``: its embeddings, noise and steps."""

    t: float
    embeds: torch.Tensor  # (1, L, D)
    noise: NoiseSource | BlendedNoise
    t_index_list: tuple[int, ...]
    guidance: float = 1.0


def blend_point(a: BlendEnd, b: BlendEnd, t: float) -> BlendPoint:
    """The settings at ``t`` between ends ``a`` and ``b`` (slerped embeddings and noise, lerped steps)."""
    check_blendable(a.config, b.config)
    t = check_position(t)
    noise: NoiseSource | BlendedNoise = a.noise if t == 0.0 else b.noise if t == 1.0 else BlendedNoise(a.noise, b.noise, t)
    ga, gb = a.config.guidance, b.config.guidance
    guidance = ga if t == 0.0 else gb if t == 1.0 else (1.0 - t) * ga + t * gb
    return BlendPoint(t, slerp(a.embeds, b.embeds, t), noise, lerp_t_index(a.config.t_index_list, b.config.t_index_list, t),
                      guidance)


class Crossfade:
    """An automatic blend from A to B over ``frames`` input frames: position k / frames at the k-th frame.

    ``advance()`` is called once per input frame and returns the position for that frame; the last
    frame runs at exactly 1.0 (B), after which ``done`` is True and the caller settles on B.
    """

    def __init__(self, a: BlendEnd, b: BlendEnd, frames: int) -> None:
        if frames < 1:
            raise ValueError(f"a crossfade lasts at least 1 frame, got {frames}")
        check_blendable(a.config, b.config)
        self.a, self.b, self.frames = a, b, frames
        self.count = 0

    @property
    def done(self) -> bool:
        return self.count >= self.frames

    @property
    def t(self) -> float:
        return min(self.count / self.frames, 1.0)

    def advance(self) -> BlendPoint:
        self.count = min(self.count + 1, self.frames)
        return blend_point(self.a, self.b, self.t)
