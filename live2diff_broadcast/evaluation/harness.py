"""The evaluation harness: every clip through every mode, scored, aggregated.

Flow (``evaluate``):
  1. read each clip (bilinear resize to the model's size), check it is long enough;
  2. for each mode: translate it through the streaming path (``runner.run_clip``), timed;
  3. score the output against the input (``MetricSuite``);
  4. aggregate per mode: mean over clips of each clip's mean (every clip weighs the same).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from ..engine.components import Live2DiffComponents
from ..engine.config import StreamConfig
from .clips import ClipSource, EvaluationInputError, read_frames
from .modes import Mode
from .runner import run_clip
from .scores import ClipScores, MetricSuite

logger = logging.getLogger(__name__)


@dataclass
class ClipResult:
    clip: str
    mode: str
    frames: int
    scores: ClipScores
    latency_s: np.ndarray
    wall_s: float

    def summary(self) -> dict[str, float]:
        return {
            **self.scores.summary(),
            "latency_s": float(self.latency_s.mean()),
            "wall_s_per_100_frames": 100.0 * self.wall_s / self.frames,
        }


@dataclass
class EvaluationResult:
    modes: list[Mode]
    clips: list[ClipResult] = field(default_factory=list)
    flow_label: str = ""
    settings: dict[str, object] = field(default_factory=dict)

    def mode_summary(self, mode: str) -> dict[str, float]:
        rows = [c.summary() for c in self.clips if c.mode == mode]
        if not rows:
            return {}
        return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def evaluate(
    clips: list[ClipSource],
    modes: list[Mode],
    components: Live2DiffComponents,
    config: StreamConfig,
    metrics: MetricSuite,
    prompt_for: dict[str, str],
    device: torch.device,
    dtype: torch.dtype,
    max_frames: int | None = None,
) -> EvaluationResult:
    result = EvaluationResult(modes=modes, flow_label=metrics.warp.label)
    needed = config.causal.window
    for clip in clips:
        # 1. frames
        frames = read_frames(clip, config.height, config.width, max_frames)
        if len(frames) < needed:
            raise EvaluationInputError(
                f"{clip.path}: {len(frames)} frames, shorter than the attention window ({needed} frames); "
                "remove the clip, raise --max-frames, or evaluate with a smaller engine.window"
            )
        prompt = prompt_for[clip.name]
        for mode in modes:
            # 2.-3. translate and score
            with tqdm(total=len(frames), desc=f"{clip.name} [{mode.name}]", unit="frame", leave=False) as bar:
                run = run_clip(frames, prompt, mode, components, config, device, dtype, on_frame=partial(bar.update, 1))
            scores = metrics.score(frames, run.outputs)
            entry = ClipResult(clip.name, mode.name, len(frames), scores, run.latency_s, run.wall_s)
            logger.info("%s [%s]: %s", clip.name, mode.name, {k: round(v, 5) for k, v in entry.summary().items()})
            result.clips.append(entry)
    return result

