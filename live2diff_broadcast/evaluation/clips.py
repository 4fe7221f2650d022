"""Evaluation clips: a DAVIS-2017 folder (JPEGImages/480p/<seq>/*.jpg) or a folder of video files.

Every frame is resized to the model's size with bilinear interpolation, as the paper does
("We resize all frames to [the model's resolution] via bilinear interpolation", Sec. 4.1): a plain
resize, no crop and no letterbox, so the evaluation sees the whole frame exactly as published.

Captions (optional): a JSON object ``{"<clip name>": "caption", ...}`` or a text file with one
``<clip name><TAB>caption`` per line. A clip without a caption uses the style's prompt alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class EvaluationInputError(ValueError):
    """Bad evaluation input: names the file or folder and what was expected."""


@dataclass(frozen=True)
class ClipSource:
    """One clip: a folder of frame images (sorted by name) or a video file."""

    name: str
    path: Path

    @property
    def is_video(self) -> bool:
        return self.path.is_file()


def discover_clips(root: Path) -> list[ClipSource]:
    """Clips under ``root``: DAVIS layout first, else frame folders or video files directly under it.

    Raises:
        EvaluationInputError: ``root`` is missing or holds no clip.
    """
    if not root.exists():
        raise EvaluationInputError(f"{root}: no such folder or file (expected a DAVIS-2017 folder or videos)")
    if root.is_file():
        return [ClipSource(root.stem, root)]
    davis = root / "JPEGImages" / "480p"
    base = davis if davis.is_dir() else root
    clips = []
    for entry in sorted(base.iterdir()):
        if entry.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir()):
            clips.append(ClipSource(entry.name, entry))
        elif entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
            clips.append(ClipSource(entry.stem, entry))
    if not clips:
        raise EvaluationInputError(
            f"{base}: no clips found. Expected DAVIS-2017's JPEGImages/480p/<sequence>/*.jpg, "
            f"folders of frames, or video files ({', '.join(VIDEO_SUFFIXES)})"
        )
    return clips


def read_frames(clip: ClipSource, height: int, width: int, max_frames: int | None = None) -> list[np.ndarray]:
    """RGB uint8 frames (height, width, 3), bilinearly resized; raises naming any unreadable file."""
    frames = list(_iter_frames(clip, max_frames))
    if not frames:
        what = "no decodable frame" if clip.is_video else "no frame image"
        raise EvaluationInputError(f"{clip.path}: {what} (is the file complete and a video OpenCV decodes?)")
    return [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames]


def _iter_frames(clip: ClipSource, max_frames: int | None) -> Iterator[np.ndarray]:
    count = 0
    if clip.is_video:
        capture = cv2.VideoCapture(str(clip.path))
        if not capture.isOpened():
            raise EvaluationInputError(f"{clip.path}: cannot be opened as a video (damaged, or a codec OpenCV lacks?)")
        try:
            while max_frames is None or count < max_frames:
                ok, bgr = capture.read()
                if not ok:
                    break
                count += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
        return
    for path in sorted(p for p in clip.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        if max_frames is not None and count >= max_frames:
            break
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise EvaluationInputError(f"{path}: not a readable image (remove it or replace it with a valid JPEG/PNG)")
        count += 1
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_captions(path: Path | None) -> dict[str, str]:
    """Clip name -> caption from a JSON object or a ``name<TAB>caption`` text file (None: no captions)."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(f"{path}: cannot read the captions file ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvaluationInputError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise EvaluationInputError(f'{path}: expected a JSON object {{"clip name": "caption", ...}}')
        return {str(k): v for k, v in data.items()}
    captions = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, caption = line.partition("\t")
        if not sep:
            raise EvaluationInputError(f"{path}:{number}: expected '<clip name><TAB>caption', got {line[:60]!r}")
        captions[name.strip()] = caption.strip()
    return captions
