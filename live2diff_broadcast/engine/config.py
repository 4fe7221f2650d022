"""Typed configuration of the streaming method: the one place window, warmup and steps live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NoiseMode = Literal["per_frame", "fixed"]
# Depth prior preprocessing (engine/depth.py). The defaults are the authors' (open-mmlab/Live2Diff,
# ``StreamAnimateDiffusionDepth.encode_depth``): squash the frame to the depth model's square input
# with bilinear interpolation, and normalise the warmup frames' depth with one min/max over them all.
DepthResize = Literal["squash", "letterbox"]
DepthNormalise = Literal["warmup_joint", "per_frame"]

# The LCM schedule the reference uses: t_index i over a 50-step schedule -> timestep 999 - 20 i.
DEFAULT_NUM_SCHEDULE_STEPS = 50
MAX_GUIDANCE = 10.0  # residual self-guidance scale (engine/guidance.py): 1 = none


@dataclass(frozen=True)
class CausalWindow:
    """Which frames a temporal attention query may see.

    The first ``warmup`` frames of a stream ("sinks") attend to each other bidirectionally and
    stay visible to every later frame. A later frame sees the sinks plus the most recent
    ``window - warmup`` frames including itself. Positions: sinks 0..warmup-1, the rolling frames
    warmup.. in temporal order, the newest highest (window-1 once the window is full).
    """

    window: int = 16  # T_w in the paper: frames one query attends to, sinks included
    warmup: int = 8  # L_w in the paper: sink frames, denoised together at stream start

    def __post_init__(self) -> None:
        if self.warmup < 1:
            raise ValueError(f"warmup must be >= 1, got {self.warmup}")
        if self.window <= self.warmup:
            raise ValueError(f"window must be > warmup, got window={self.window}, warmup={self.warmup}")

    @property
    def rolling(self) -> int:
        """Number of non-sink frames in the window (the ring's size)."""
        return self.window - self.warmup


@dataclass(frozen=True)
class StreamConfig:
    """Everything that shapes the streaming computation (not the weights).

    ``t_index_list`` picks the denoising steps from a ``num_schedule_steps`` LCM schedule;
    its length n is the number of denoising steps and the stream batch size, and the output lags
    the input by n - 1 frames.
    """

    height: int = 512
    width: int = 512
    t_index_list: tuple[int, ...] = (30, 40)
    num_schedule_steps: int = DEFAULT_NUM_SCHEDULE_STEPS
    causal: CausalWindow = field(default_factory=CausalWindow)
    seed: int = 42
    noise_mode: NoiseMode = "per_frame"  # "fixed": the same noise for every frame (StreamDiffusion's choice)
    clip_skip: int = 2  # CLIP layer from the end (A1111 / civitai): 1 = last, 2 = penultimate (engine/text.py)
    prompt_template: str = "{}"
    depth_resize: DepthResize = "squash"  # "letterbox": pad to a square instead of distorting (engine/depth.py)
    depth_normalise: DepthNormalise = "warmup_joint"  # "per_frame": warmup frames normalised one by one too
    guidance: float = 1.0  # residual self-guidance (engine/guidance.py): 1 = none, > 1 stronger, 0 = the input

    def __post_init__(self) -> None:
        if len(self.t_index_list) < 1:
            raise ValueError("t_index_list must name at least one denoising step")
        if list(self.t_index_list) != sorted(set(self.t_index_list)):
            raise ValueError(f"t_index_list must be strictly increasing, got {list(self.t_index_list)}")
        if self.t_index_list[0] < 0 or self.t_index_list[-1] >= self.num_schedule_steps:
            raise ValueError(
                f"t_index_list entries must lie in [0, {self.num_schedule_steps}), got {list(self.t_index_list)}"
            )
        if self.height % 8 or self.width % 8:
            raise ValueError(f"height and width must be multiples of 8, got {self.height}x{self.width}")
        if self.clip_skip < 1:
            raise ValueError(f"clip_skip must be >= 1 (1 = last layer), got {self.clip_skip}")
        if not 0.0 <= self.guidance <= MAX_GUIDANCE:
            raise ValueError(f"guidance must be in [0, {MAX_GUIDANCE:g}] (1 = none), got {self.guidance}")
        if "{}" not in self.prompt_template:
            raise ValueError(f"prompt_template must contain '{{}}' for the prompt, got {self.prompt_template!r}")

    @property
    def num_steps(self) -> int:
        return len(self.t_index_list)
