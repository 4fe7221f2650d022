"""``run --record DIR``: what the engine took, what it made and when each control applied.

Written by the engine process, the one place that knows the frame clock (its input index):

- ``input.mkv``: every frame the engine took, losslessly (FFV1), at the source's size;
- ``output.mkv``: every frame it produced, in input-index order, losslessly;
- ``timeline.json``: the style it started in and every control event with the input index before
  which it applied (``control/timeline.py``).

``render DIR/input.mkv OUT.mkv --profile P --replay DIR/timeline.json`` then reproduces
``output.mkv`` bit for bit on the same machine (same weights, same backend). An engine restart
during the run starts a new take in ``DIR/take-N`` (the frame clock starts again).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..control.timeline import Timeline

logger = logging.getLogger(__name__)

FOURCC = "FFV1"  # lossless in OpenCV's bundled FFmpeg, so a replay can be compared bit for bit


def take_dir(root: Path) -> Path:
    """``root`` for the first take, then ``root/take-2``, ``take-3``... (never overwrites a take)."""
    if not (root / "timeline.json").exists() and not (root / "input.mkv").exists():
        return root
    n = 2
    while (root / f"take-{n}").exists():
        n += 1
    return root / f"take-{n}"


def style_commands(profile: Any, name: str, prompt: str, t_index_list: tuple[int, ...], seed: int,
                   guidance: float) -> list[str]:
    """The timeline commands of an applied style: its live edits first (what differs from ``profile``'s
    style: ``prompt``, ``t_index``, ``seed``, ``guidance``), then ``style NAME``. ``render --replay``
    applies the edits to that one style switch, as the live show did."""
    try:
        style = profile.style(name)
    except KeyError:  # added by a reload after the engine started: its settings are not in the spawn profile
        return [f"style {name}"]
    commands = []
    if prompt != style.prompt:
        commands.append(f"prompt {prompt}")
    if tuple(t_index_list) != tuple(profile.t_index_list(style)):
        commands.append("t_index " + " ".join(str(i) for i in t_index_list))
    if seed != style.seed:
        commands.append(f"seed {seed}")
    if guidance != style.guidance:
        commands.append(f"guidance {guidance!r}")
    return [*commands, f"style {name}"]


class Recorder:
    def __init__(self, root: Path, style: str | None, fps: float = 30.0) -> None:
        self.dir = take_dir(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.timeline = Timeline(style)
        self._input: cv2.VideoWriter | None = None
        self._output: cv2.VideoWriter | None = None
        self.frames_in = self.frames_out = 0
        logger.info("recording the engine's input, output and control timeline into %s", self.dir)

    def input(self, rgb: np.ndarray) -> None:
        self._input = self._write(self._input, "input.mkv", rgb)
        self.frames_in += 1

    def output(self, rgb: np.ndarray) -> None:
        self._output = self._write(self._output, "output.mkv", rgb)
        self.frames_out += 1

    def event(self, frame: int, command: str) -> None:
        self.timeline.add(frame, command)
        self.timeline.save(self.dir / "timeline.json")  # saved at once: a crash keeps what happened

    def close(self) -> None:
        for writer in (self._input, self._output):
            if writer is not None:
                writer.release()
        self.timeline.save(self.dir / "timeline.json")
        logger.info("recording closed: %d frames in, %d out, %d control events in %s",
                    self.frames_in, self.frames_out, len(self.timeline.events), self.dir)

    def _write(self, writer: cv2.VideoWriter | None, name: str, rgb: np.ndarray) -> cv2.VideoWriter:
        if writer is None:
            height, width = rgb.shape[:2]
            writer = cv2.VideoWriter(str(self.dir / name), cv2.VideoWriter_fourcc(*FOURCC), self.fps, (width, height))
            if not writer.isOpened():
                raise OSError(f"cannot write {self.dir / name} (FFV1 in Matroska)")
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return writer
