"""Typed control actions, their results, and the events the supervisor publishes.

Every action is stamped with ``at_ns`` (monotonic ns, ``media.frames.now_ns``) at the control input
that created it (the hotkey callback, the terminal key, the server line), so the time from a key
press to the first frame in the new style can be measured end to end. ``origin`` names that input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..media.frames import now_ns


@dataclass(frozen=True)
class _Action:
    at_ns: int = field(default_factory=now_ns, kw_only=True)  # stamped at the control input
    origin: str = field(default="api", kw_only=True)  # "hotkey", "terminal", "server", "reload", "api"


@dataclass(frozen=True)
class SelectStyle(_Action):
    name: str


@dataclass(frozen=True)
class BlendStyles(_Action):
    """A fader between two styles on the same models: ``t`` 0 = style ``a``, 1 = style ``b`` (held until changed)."""

    a: str
    b: str
    t: float


@dataclass(frozen=True)
class SetLoraWeight(_Action):
    """A LoRA fader: the style LoRA ``name`` (its file's stem or its index) at ``weight`` in [0, 1], no reload."""

    name: str
    weight: float


@dataclass(frozen=True)
class EditStyle(_Action):
    """A live edit of the style on air: ``field`` set to ``value`` (checked by ``control/live_params.py``).

    ``field`` is one of ``live_params.FIELDS``: "prompt" (str), "strength" (float in (0, 1]),
    "t_index_list" (tuple of ints), "seed" (int), "guidance" (float). The edit overrides the profile
    for that style until it is saved (``SaveProfile``) or reverted (``RevertStyle``)."""

    field: str
    value: Any


@dataclass(frozen=True)
class RevertStyle(_Action):
    pass  # drop the live edits of the style on air: back to the profile's settings


@dataclass(frozen=True)
class SaveProfile(_Action):
    pass  # write every style's live edits into the profile file (comments kept), on request only


@dataclass(frozen=True)
class NextStyle(_Action):
    pass


@dataclass(frozen=True)
class PreviousStyle(_Action):
    pass


@dataclass(frozen=True)
class TogglePassthrough(_Action):
    on: bool | None = None  # None: toggle; True / False: force


@dataclass(frozen=True)
class Rewarm(_Action):
    pass  # re-run warmup on the recent frames (e.g. after a scene cut), same style


@dataclass(frozen=True)
class Quit(_Action):
    pass  # stop the broadcast (terminal 'q')


@dataclass(frozen=True)
class ReloadProfile(_Action):
    """A saved profile that validated (config/watch.py); the supervisor applies it between frames."""

    profile: Any  # config.Profile
    path: str = ""


Action = (SelectStyle | NextStyle | PreviousStyle | TogglePassthrough | Rewarm | Quit | ReloadProfile | BlendStyles
          | SetLoraWeight | EditStyle | RevertStyle | SaveProfile)
STYLE_ACTIONS = (SelectStyle, NextStyle, PreviousStyle)


@dataclass(frozen=True)
class ActionResult:
    """What the supervisor made of an action; ``style`` is the style requested after it."""

    ok: bool
    message: str
    style: str | None = None
    passthrough: bool | None = None


# --- events (supervisor -> listeners) ---------------------------------------------------------


@dataclass(frozen=True)
class StyleApplied:
    """The first frame in ``style`` reached the sink ``latency_ms`` after the control input."""

    style: str
    latency_ms: float
    origin: str


@dataclass(frozen=True)
class StyleFailed:
    """The engine could not prepare ``style``; the previous style stays on air."""

    style: str
    error: str


@dataclass(frozen=True)
class ProfileReloaded:
    path: str
    changes: tuple[str, ...]  # what was applied, and what waits for a restart


@dataclass(frozen=True)
class ProfileRejected:
    path: str
    error: str


Event = StyleApplied | StyleFailed | ProfileReloaded | ProfileRejected

