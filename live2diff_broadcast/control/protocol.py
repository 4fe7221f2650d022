"""The text commands of the control server and the ``control`` client, parsed into actions.

One command per line (TCP) or per URL path (HTTP ``GET /style/NAME``)::

    style NAME            select a style by name (spaces allowed)
    next | prev           the next / previous style in the profile's order (wraps around)
    blend A B T           hold a fader between styles A and B (same models) at T in [0, 1]; quote names with spaces
    lora NAME W           set the style LoRA NAME (file stem or index) to weight W in [0, 1], live
    passthrough [on|off]  show the camera as is (no argument: toggle)
    rewarm                re-warm the current style on the recent frames
    status                telemetry and the style state, as JSON
    help                  this list
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

from .actions import (
    Action,
    BlendStyles,
    NextStyle,
    PreviousStyle,
    Rewarm,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)

HELP = __doc__.split("::", 1)[1].strip("\n") if __doc__ else ""


class CommandError(ValueError):
    """A command line that is not one of the commands above; the message says what was expected."""


@dataclass(frozen=True)
class Query:
    what: str  # "status" or "help"


Command = Action | Query


def parse_command(line: str, origin: str = "server") -> Command:
    """``"style anime"`` -> ``SelectStyle("anime")``; raises CommandError naming the line."""
    words = line.strip().split(maxsplit=1)
    if not words:
        raise CommandError(f"empty command; expected one of: {COMMANDS}")
    verb, arg = words[0].lower(), (words[1].strip() if len(words) > 1 else "")
    if verb == "style":
        if not arg:
            raise CommandError("'style' needs a style name, e.g. 'style anime'")
        return SelectStyle(arg, origin=origin)
    if verb in ("next", "prev", "previous", "rewarm", "status", "help") and arg:
        raise CommandError(f"{verb!r} takes no argument, got {arg!r}")
    if verb == "next":
        return NextStyle(origin=origin)
    if verb in ("prev", "previous"):
        return PreviousStyle(origin=origin)
    if verb == "rewarm":
        return Rewarm(origin=origin)
    if verb in ("status", "help"):
        return Query(verb)
    if verb == "passthrough":
        states = {"": None, "toggle": None, "on": True, "off": False}
        if arg.lower() not in states:
            raise CommandError(f"'passthrough' takes on, off or nothing (toggle), got {arg!r}")
        return TogglePassthrough(states[arg.lower()], origin=origin)
    if verb == "blend":
        parts = _split(arg, 3, "'blend A B T', e.g. 'blend anime sketch 0.5'")
        return BlendStyles(parts[0], parts[1], unit_number(parts[2], "blend position T"), origin=origin)
    if verb == "lora":
        parts = _split(arg, 2, "'lora NAME W', e.g. 'lora ink 0.7'")
        return SetLoraWeight(parts[0], unit_number(parts[1], "LoRA weight W"), origin=origin)
    raise CommandError(f"unknown command {verb!r}; expected one of: {COMMANDS}")


COMMANDS = "style NAME, next, prev, blend A B T, lora NAME W, passthrough [on|off], rewarm, status, help"


def unit_number(text: str | float, what: str) -> float:
    """A number in [0, 1] (CommandError naming ``what`` and the value otherwise)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a number in [0, 1], got {text!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise CommandError(f"{what} must be a number in [0, 1], got {text!r}")
    return value


def _split(arg: str, count: int, usage: str) -> list[str]:
    try:
        parts = shlex.split(arg)
    except ValueError as exc:
        raise CommandError(f"cannot read {arg!r} ({exc}); expected {usage}") from None
    if len(parts) != count:
        raise CommandError(f"expected {usage}, got {len(parts)} argument(s): {arg!r}")
    return parts
