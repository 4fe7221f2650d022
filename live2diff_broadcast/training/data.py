"""Training data: a folder of videos (or frame folders) cut into chunks of ``window`` consecutive frames.

Each item is one chunk: frames (F, 3, H, W) in [0, 1] (short side resized bilinearly to cover
H x W, centre crop), its clip's caption and its index (which keys the chunk's noise and timestep,
so a run is reproducible whatever the number of processes). Chunks start every ``stride`` frames.
``EpochSampler`` permutes the chunks with a seed per epoch, identically on every process; the
DataLoader that accelerate prepares hands each process its share.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..evaluation.clips import IMAGE_SUFFIXES, ClipSource, EvaluationInputError, discover_clips, read_captions

logger = logging.getLogger(__name__)


class TrainingDataError(ValueError):
    """Unusable training data: names the file and what was expected."""


@dataclass(frozen=True)
class Chunk:
    clip: ClipSource
    start: int


def count_frames(clip: ClipSource) -> int:
    if not clip.is_video:
        return sum(1 for p in clip.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    capture = cv2.VideoCapture(str(clip.path))
    if not capture.isOpened():
        raise TrainingDataError(f"{clip.path}: cannot be opened as a video (damaged, or a codec OpenCV lacks?); remove it")
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def fit_cover(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize so the frame covers height x width, then a centre crop."""
    h, w = frame.shape[:2]
    scale = max(height / h, width / w)
    sh, sw = max(height, round(h * scale)), max(width, round(w * scale))
    resized = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_LINEAR)
    top, left = (sh - height) // 2, (sw - width) // 2
    return resized[top : top + height, left : left + width]


class VideoChunkDataset(Dataset[dict[str, Any]]):
    def __init__(
        self, root: Path, window: int, height: int, width: int, stride: int, captions: Path | None = None
    ) -> None:
        try:
            clips = discover_clips(root)
            self.captions = read_captions(captions)
        except EvaluationInputError as exc:
            raise TrainingDataError(str(exc)) from None
        self.window, self.height, self.width = window, height, width
        self.chunks: list[Chunk] = []
        short = []
        for clip in clips:
            n = count_frames(clip)
            if n < window:
                short.append(f"{clip.path} ({n} frames)")
                continue
            self.chunks += [Chunk(clip, s) for s in range(0, n - window + 1, stride)]
        if short:
            logger.warning("skipping %d clip(s) shorter than the %d-frame window: %s", len(short), window, short[:5])
        if not self.chunks:
            raise TrainingDataError(
                f"{root}: no clip has the {window} consecutive frames one training chunk needs "
                f"(short: {short[:5]}); add longer videos or lower --window"
            )
        uncaptioned = {c.clip.name for c in self.chunks} - set(self.captions)
        if uncaptioned:
            logger.warning("%d clip(s) have no caption and train with an empty prompt: %s",
                           len(uncaptioned), sorted(uncaptioned)[:5])

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        chunk = self.chunks[index]
        frames = [fit_cover(f, self.height, self.width) for f in self._read(chunk)]
        video = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255)  # (F, 3, H, W)
        return {"frames": video, "caption": self.captions.get(chunk.clip.name, ""), "index": index}

    def _read(self, chunk: Chunk) -> list[np.ndarray]:
        clip, frames = chunk.clip, []
        if clip.is_video:
            capture = cv2.VideoCapture(str(clip.path))
            capture.set(cv2.CAP_PROP_POS_FRAMES, chunk.start)
            for _ in range(self.window):
                ok, bgr = capture.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            capture.release()
        else:
            paths = sorted(p for p in clip.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for path in paths[chunk.start : chunk.start + self.window]:
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise TrainingDataError(f"{path}: not a readable image; remove or replace it")
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if len(frames) != self.window:
            raise TrainingDataError(
                f"{clip.path}: frames {chunk.start}..{chunk.start + self.window - 1} could not all be decoded "
                f"(got {len(frames)}); the file is truncated or damaged: re-encode or remove it"
            )
        return frames


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, the same on every process (call ``select_epoch``; not named
    ``set_epoch`` so that accelerate's loaders, which count epochs per loader object, cannot reset it)."""

    def __init__(self, length: int, seed: int, shuffle: bool = True) -> None:
        self.length, self.seed, self.shuffle, self.epoch = length, seed, shuffle, 0

    def select_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.length))
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=g).tolist())


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "frames": torch.stack([i["frames"] for i in items]),  # (B, F, 3, H, W)
        "caption": [i["caption"] for i in items],
        "index": torch.tensor([i["index"] for i in items]),
    }


