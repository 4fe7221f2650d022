"""The text commands of the control server and the ``control`` client, parsed into actions.

One command per line (TCP) or per URL path (HTTP ``GET /style/NAME``)::

    style NAME            select a style by name (spaces allowed)
    next | prev           the next / previous style in the profile's order (wraps around)
    blend A B T           hold a fader between styles A and B (same models) at T in [0, 1]; quote names with spaces
    lora NAME W           set the style LoRA NAME (file stem or index) to weight W in [0, 1], live
    passthrough [on|off]  show the camera as is (no argument: toggle)
    rewarm                re-warm the current style on the recent frames
    prompt TEXT           live: the prompt of the style on air (re-encoded, then re-warm or its crossfade)
    strength S            live: how far from the input, in (0, 1]
    t_index I J ...       live: the denoising steps instead of a strength, e.g. 't_index 30 40'
    seed N                live: the noise seed, a whole number
    guidance G            live: residual guidance in [0, 10] (1 = none, 0 = the input itself)
    revert                drop the live edits of the style on air (back to the profile)
    save                  write the live edits into the profile file (comments kept)
    status                telemetry and the style state, as JSON
    help                  this list

Live edits belong to the style they were made on: switching away and back keeps them, until
'revert', 'save' or a profile edit of the same field (the file's newer value wins).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from . import live_params
from .actions import (
    Action,
    BlendStyles,
    NextStyle,
    PreviousStyle,
    RevertStyle,
    Rewarm,
    SaveProfile,
    SelectStyle,
    SetLoraWeight,
    TogglePassthrough,
)
from .errors import CommandError

HELP = __doc__.split("::", 1)[1].strip("\n") if __doc__ else ""
_EXAMPLES = {"strength": "strength 0.4", "seed": "seed 7", "guidance": "guidance 1.5"}
FREE_TEXT = ("style", "prompt")  # verbs whose argument is the rest of the line, spaces and quotes included


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
    if verb in ("next", "prev", "previous", "rewarm", "status", "help", "revert", "save") and arg:
        raise CommandError(f"{verb!r} takes no argument, got {arg!r}")
    if verb == "next":
        return NextStyle(origin=origin)
    if verb in ("prev", "previous"):
        return PreviousStyle(origin=origin)
    if verb == "rewarm":
        return Rewarm(origin=origin)
    if verb == "revert":
        return RevertStyle(origin=origin)
    if verb == "save":
        return SaveProfile(origin=origin)
    if verb == "prompt":
        return live_params.edit("prompt", arg, origin)
    if verb in ("strength", "seed", "guidance"):
        parts = _split(arg, 1, f"'{verb} VALUE', e.g. '{_EXAMPLES[verb]}'")
        return live_params.edit(verb, parts[0], origin)
    if verb in ("t_index", "t_index_list"):
        return live_params.edit("t_index_list", _words(arg, "'t_index I J ...', e.g. 't_index 30 40'"), origin)
    if verb in ("negative", "negative_prompt"):
        raise CommandError(live_params.NEGATIVE_REFUSED)
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


COMMANDS = ("style NAME, next, prev, blend A B T, lora NAME W, passthrough [on|off], rewarm, prompt TEXT, strength S, "
            "t_index I J .., seed N, guidance G, revert, save, status, help")


def command_line(words: Sequence[str]) -> str:
    """The command a shell user meant with these argv words (``control blend A "B C" 0.5``).

    One word is the one-string form, taken as it is. Otherwise the verb decides: the argument of
    ``style`` and ``prompt`` is free text (the words joined with spaces, so ``control style oil
    painting`` works unquoted); every other verb takes separate arguments, so each word is quoted
    and a name with spaces stays one argument.
    """
    if len(words) == 1:
        return words[0]
    verb, rest = words[0], list(words[1:])
    if verb.lower() in FREE_TEXT:
        return " ".join([verb, *rest])
    return " ".join([verb, *(shlex.quote(word) for word in rest)])


def unit_number(text: str | float, what: str) -> float:
    """A number in [0, 1] (CommandError naming ``what`` and the value otherwise)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a number in [0, 1], got {text!r}") from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise CommandError(f"{what} must be a number in [0, 1], got {text!r}")
    return value


def _words(arg: str, usage: str) -> list[str]:
    try:
        return shlex.split(arg)
    except ValueError as exc:
        raise CommandError(f"cannot read {arg!r} ({exc}); expected {usage}") from None


def _split(arg: str, count: int, usage: str) -> list[str]:
    parts = _words(arg, usage)
    if len(parts) != count:
        raise CommandError(f"expected {usage}, got {len(parts)} argument(s): {arg!r}")
    return parts
