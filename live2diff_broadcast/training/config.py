"""Typed training settings (paper Sec. 3.5), validated at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Precision = Literal["no", "fp16", "bf16", "fp64"]


@dataclass(frozen=True)
class TrainConfig:
    """One training stage.

    The paper: stage 1 fine-tunes the AnimateDiff-initialised temporal modules with the
    uni-directional warmup mask for 3000 iterations; stage 2 adds the depth prior (last layer
    zero-initialised) and trains jointly for 6000 iterations; Adam, 4 samples per GPU on 8 GPUs,
    32 accumulated gradients = effective batch 1024.
    """

    data: Path  # folder of videos / frame folders (DAVIS layout works too)
    output: Path  # checkpoints, exported motion module, trainer_state.json
    stage: Literal[1, 2] = 1
    window: int = 16  # T_w: frames per training chunk (= the attention window)
    warmup: int = 8  # L_w: warmup frames, bidirectional among themselves
    height: int = 512
    width: int = 512
    chunk_stride: int = 16  # frames between the starts of two chunks of one video
    batch_size: int = 1  # chunks per process per micro-batch
    grad_accumulation: int = 1  # micro-batches per optimizer step
    max_steps: int = 3000  # optimizer steps (paper: 3000 stage 1, 6000 stage 2)
    learning_rate: float = 1e-4
    max_grad_norm: float | None = 1.0
    precision: Precision = "no"  # "fp16"/"bf16": accelerate mixed precision (GPU); "fp64": exactness tests
    seed: int = 0
    clip_skip: int = 1  # CLIP layer used for the captions (1 = last, as AnimateDiff trains)
    checkpoint_every: int = 500  # optimizer steps between resumable checkpoints (0: only at the end)
    keep_checkpoints: int = 2
    num_workers: int = 0  # DataLoader worker processes
    export_format: Literal["safetensors", "ckpt"] = "safetensors"

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 (temporal modules) or 2 (+ depth prior), got {self.stage}")
        if not 1 <= self.warmup < self.window:
            raise ValueError(f"need 1 <= warmup < window, got warmup={self.warmup}, window={self.window}")
        if self.height % 8 or self.width % 8:
            raise ValueError(f"height and width must be multiples of 8, got {self.width}x{self.height}")
        for name in ("chunk_stride", "batch_size", "grad_accumulation", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
