"""[hotkeys] and [control]: the action hotkeys and the local control port."""

from __future__ import annotations

from pydantic import Field

from ..hotkeys import Hotkey
from .base import Section


class HotkeysSection(Section):
    """Hotkeys for actions (a style's own hotkey selects that style); unset = no hotkey."""

    next_style: Hotkey | None = None  # the next style in the profile's order (wraps around)
    previous_style: Hotkey | None = None
    passthrough: Hotkey | None = None  # toggle: show the source as is instead of the AI output
    rewarm: Hotkey | None = None  # re-warm the current style on the recent frames (after a scene cut)


class ControlSection(Section):
    """The local control port (dock page, /status, POST commands): this machine only unless host says otherwise."""

    host: str = Field(default="127.0.0.1", min_length=1)  # "0.0.0.0" opens it to the network (token still needed)
    port: int = Field(default=7878, ge=0, le=65535)  # 0: any free port (logged)
