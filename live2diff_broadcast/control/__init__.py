"""Live controls: typed actions on a ControlBus, posted by hotkeys, terminal keys and a local server.

Every input builds an action stamped with the monotonic time of the key press; the supervisor
takes them between frames (``runtime.control_stage.ControlStage.tick``), coalescing style switches so the
last requested style wins.
"""

from .actions import (
    Action,
    ActionResult,
    Event,
    NextStyle,
    PreviousStyle,
    ProfileRejected,
    ProfileReloaded,
    Quit,
    Rewarm,
    SelectStyle,
    StyleApplied,
    StyleFailed,
    TogglePassthrough,
)
from .bus import ControlBus

__all__ = [
    "Action", "ActionResult", "ControlBus", "Event", "NextStyle", "PreviousStyle", "ProfileRejected",
    "ProfileReloaded", "Quit", "Rewarm", "SelectStyle", "StyleApplied", "StyleFailed", "TogglePassthrough",
]
