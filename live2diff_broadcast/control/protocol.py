"""The text commands of the control server and the ``control`` client, parsed into actions.

One command per line (TCP) or per URL path (HTTP ``GET /style/NAME``)::

    style NAME            select a style by name (spaces allowed)
    next | prev           the next / previous style in the profile's order (wraps around)
    passthrough [on|off]  show the camera as is (no argument: toggle)
    rewarm                re-warm the current style on the recent frames
    status                telemetry and the style state, as JSON
    help                  this list
"""

from __future__ import annotations

from dataclasses import dataclass

from .actions import Action, NextStyle, PreviousStyle, Rewarm, SelectStyle, TogglePassthrough

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
        raise CommandError("empty command; expected one of: style NAME, next, prev, passthrough [on|off], rewarm, status, help")
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
    raise CommandError(f"unknown command {verb!r}; expected one of: style NAME, next, prev, passthrough [on|off], rewarm, status, help")
