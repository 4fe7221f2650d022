"""Synthetic clips for the evaluation tests: a view panning over a smooth texture (content slides left)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (blurred noise + gradient), uint8 (height, width, 3)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=3)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    return (255 * (0.7 * smooth + 0.3 * ramp)).clip(0, 255).astype(np.uint8)


def moving_clip(frames: int, height: int = 64, width: int = 64, speed: int = 1, seed: int = 0) -> list[np.ndarray]:
    """``frames`` crops of a larger texture, shifted ``speed`` pixels right per frame."""
    big = pattern(height, width + speed * frames, seed)
    return [np.ascontiguousarray(big[:, speed * i : speed * i + width]) for i in range(frames)]


def still_clip(frames: int, height: int = 64, width: int = 64, seed: int = 0) -> list[np.ndarray]:
    image = pattern(height, width, seed)
    return [image.copy() for _ in range(frames)]


def with_flicker(frames: list[np.ndarray], amount: int = 60) -> list[np.ndarray]:
    """Every other frame brightened by ``amount`` (a temporal flicker, structure unchanged)."""
    out = []
    for i, f in enumerate(frames):
        g = f.astype(np.int16) + (amount if i % 2 else 0)
        out.append(g.clip(0, 255).astype(np.uint8))
    return out


def write_davis(root: Path, name: str, frames: list[np.ndarray]) -> Path:
    folder = root / "JPEGImages" / "480p" / name
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
