"""[output]: the constant-rate output stage (``runtime/output_stage.py``); applied live on reload."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class OutputSection(Section):
    # Frames per second of the output (every slot of the 1/fps grid gets a frame); unset: the source's rate.
    fps: float | None = Field(default=None, gt=0, le=240)
    # Hold the last restyled frame while the engine works on the next one (a re-warm after a switch, a slow
    # frame) as long as it made progress (a finished stage of the frame path, a re-warm step) within hold_s,
    # or within 4 of its own frame intervals when those are longer; after that the camera, captioned. A dead
    # or restarting engine goes to the camera at once (a restart takes seconds).
    hold_s: float = Field(default=2.0, gt=0, le=600)
    # No source frame for this long: a NO SIGNAL card on the last picture.
    no_signal_after_s: float = Field(default=0.5, gt=0, le=600)
