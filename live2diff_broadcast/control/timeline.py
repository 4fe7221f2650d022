"""Timelines of control events: what ``run --record`` writes and ``render --replay`` plays back.

A timeline is a versioned JSON file::

    {"format": "live2diff-timeline", "version": 1, "style": "anime",
     "events": [{"frame": 120, "command": "style sketch"}, {"frame": 200, "command": "blend anime sketch 0.5"}]}

``frame`` is the engine's input frame index (the frame clock: 0 = the first frame the engine took)
BEFORE which the command applies; ``command`` is a control command (``control/protocol.py``), so a
timeline can be written by hand and is validated with the same parser as every control surface.
Every error names the file, the field and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .protocol import CommandError, Query, parse_command

FORMAT = "live2diff-timeline"
VERSION = 1


class TimelineError(ValueError):
    """A timeline file that cannot be replayed; the message names the file and the field."""


@dataclass(frozen=True)
class TimelineEvent:
    frame: int
    command: str


@dataclass
class Timeline:
    style: str | None = None  # the style the run started in (None: the profile's default)
    events: list[TimelineEvent] = field(default_factory=list)

    def add(self, frame: int, command: str) -> None:
        self.events.append(TimelineEvent(frame, command))

    def at(self, frame: int) -> list[str]:
        """The commands to apply before input frame ``frame``, in recorded order."""
        return [e.command for e in self.events if e.frame == frame]

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "style": self.style,
                "events": [{"frame": e.frame, "command": e.command} for e in self.events]}

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)


def load_timeline(path: Path) -> Timeline:
    """Read and validate a timeline (TimelineError naming the file / field otherwise)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TimelineError(f"{path}: no such timeline file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TimelineError(f"{path}: not a readable JSON timeline ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TimelineError(f"{path}: expected a JSON object with \"format\": \"{FORMAT}\"")
    if data.get("version") != VERSION:
        raise TimelineError(f"{path}: version: this program reads version {VERSION}, got {data.get('version')!r}")
    style = data.get("style")
    if style is not None and not isinstance(style, str):
        raise TimelineError(f"{path}: style: expected a style name or null, got {style!r}")
    events = data.get("events")
    if not isinstance(events, list):
        raise TimelineError(f"{path}: events: expected a list, got {type(events).__name__}")
    timeline = Timeline(style)
    last = -1
    for i, event in enumerate(events):
        where = f"{path}: events[{i}]"
        if not isinstance(event, dict) or set(event) != {"frame", "command"}:
            raise TimelineError(f"{where}: expected {{\"frame\": N, \"command\": \"...\"}}, got {event!r}")
        frame, command = event["frame"], event["command"]
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise TimelineError(f"{where}.frame: expected a frame index >= 0, got {frame!r}")
        if frame < last:
            raise TimelineError(f"{where}.frame: frames must not decrease, got {frame} after {last}")
        if not isinstance(command, str):
            raise TimelineError(f"{where}.command: expected a command string, got {command!r}")
        try:
            parsed = parse_command(command, origin="replay")
        except CommandError as exc:
            raise TimelineError(f"{where}.command: {exc}") from None
        if isinstance(parsed, Query):
            raise TimelineError(f"{where}.command: {command!r} is a query, not a control event")
        timeline.add(frame, command)
        last = frame
    return timeline
