"""``render --replay``: apply a recorded timeline's control events to a translator at their input frames.

Each command goes through the calls the engine process makes for it (``runtime/engine_process.py``):
a style through a ``StyleSwitcher`` (cut or crossfade as the profile says; other models loaded, and
waited for, here), a blend through ``translator.blend``, a re-warm through ``translator.rewarm``.
Live edits (``prompt``, ``t_index``, ``seed``, ``guidance``) are recorded right before the ``style``
command they were part of and are applied to that one switch (``recorder.style_commands``).
Same inputs, same calls at the same frame indices: the same output, bit for bit.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..assembly import build_switcher
from ..config import Profile
from ..config.live_edits import LiveEditError, LiveEdits
from ..control.actions import BlendStyles, EditStyle, Rewarm, SelectStyle, SetLoraWeight
from ..control.protocol import parse_command
from ..control.timeline import Timeline, TimelineError
from ..engine.translator import Translator
from .messages import style_message

logger = logging.getLogger(__name__)

Outputs = list[tuple[int, np.ndarray]]


class Replayer:
    def __init__(self, profile: Profile, translator: Translator, timeline: Timeline, style: str | None,
                 load_timeout_s: float = 600.0) -> None:
        self.profile, self.translator, self.timeline = profile, translator, timeline
        self.switcher = build_switcher(translator, style_message(profile, style).models, "diffusion", 2)
        self.load_timeout_s = load_timeout_s
        self._edits: list[EditStyle] = []  # live edits recorded for the next style command

    def before(self, frame: int) -> Outputs:
        """Apply the commands recorded before input frame ``frame``; returns the frames they completed."""
        outputs: Outputs = []
        for command in self.timeline.at(frame):
            action = parse_command(command, origin="replay")
            logger.info("replay: frame %d: %s", frame, command)
            if isinstance(action, EditStyle):
                self._edits.append(action)
            elif isinstance(action, SelectStyle):
                outputs += self._style(action.name, frame)
            elif isinstance(action, BlendStyles):
                a, b = style_message(self.profile, action.a), style_message(self.profile, action.b)
                self.translator.blend((a.config, a.prompt), (b.config, b.prompt), action.t)
            elif isinstance(action, Rewarm):
                outputs += self.translator.rewarm()
            elif isinstance(action, SetLoraWeight):
                self.translator.set_lora(action.name, action.weight)
            else:
                raise TimelineError(f"timeline event at frame {frame}: {command!r} is not something the engine records")
        return outputs

    def _style(self, name: str, frame: int) -> Outputs:
        pending, self._edits, edits = self._edits, [], LiveEdits()
        try:
            for edit in pending:
                edits.set(self.profile, name, edit.field, edit.value)
            message = style_message(edits.effective(self.profile), name)
        except KeyError as exc:
            raise TimelineError(f"timeline event at frame {frame}: {exc.args[0]}") from None
        except LiveEditError as exc:
            raise TimelineError(f"timeline event at frame {frame}: a live edit of style {name!r}: {exc}") from None
        self.switcher.request(message)
        deadline = time.monotonic() + self.load_timeout_s
        while time.monotonic() < deadline:
            for report in self.switcher.poll():
                if report.request is message and report.status == "applied":
                    return report.outputs
                if report.request is message and report.status == "failed":
                    raise TimelineError(f"timeline event at frame {frame}: style {name!r} failed: {report.message}")
            time.sleep(0.01)
        raise TimelineError(f"timeline event at frame {frame}: style {name!r} not ready in {self.load_timeout_s:.0f} s")
