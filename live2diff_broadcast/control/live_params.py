"""Live parameters of the style on air: what each one accepts, checked the same way on every surface.

The text commands (``protocol.py``: ``prompt TEXT``, ``strength S``, ``t_index I J ..``, ``seed N``,
``guidance G``) and OSC (``osc.py``: ``/live2diff/prompt`` ...) both build their ``EditStyle``
actions here, so a bad value is refused with the same reason wherever it came from. What these
checks cannot see (a strength too low for the engine's step count) the control stage refuses
with its reason (``runtime/control_stage.py``).

The negative prompt is not live: the engine denoises with LCM and no unconditional branch, so no
negative prompt reaches the model (``guidance`` is residual self-guidance, ``engine/guidance.py``);
``negative ...`` is refused with that reason instead of being accepted and ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..config.schema.steps import check_t_index_list
from ..engine.config import MAX_GUIDANCE
from .actions import EditStyle
from .errors import CommandError

MAX_PROMPT_CHARS = 2000  # CLIP reads 77 tokens; anything this long is a paste gone wrong
MAX_SEED = 2**63 - 1  # what a TOML integer holds
FIELDS = ("prompt", "strength", "t_index_list", "seed", "guidance")
NEGATIVE_REFUSED = ("the negative prompt is not a live parameter: this engine (LCM, no unconditional branch) never "
                    "uses one; 'guidance G' is its live guidance knob (residual self-guidance, 1 = off)")

_INTEGER = re.compile(r"^[+-]?\d+$")


def check_prompt(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise CommandError(f"prompt must be some text, e.g. 'prompt a watercolor fox', got {text!r}")
    text = text.strip()
    if len(text) > MAX_PROMPT_CHARS:
        raise CommandError(f"prompt must be at most {MAX_PROMPT_CHARS} characters, got {len(text)}")
    return text


def check_strength(value: Any) -> float:
    number = _number(value, "strength S", "(0, 1], e.g. 'strength 0.4'")
    if not 0.0 < number <= 1.0:
        raise CommandError(f"strength S must be a number in (0, 1], e.g. 'strength 0.4', got {value!r}")
    return number


def check_guidance(value: Any) -> float:
    number = _number(value, "guidance G", f"[0, {MAX_GUIDANCE:g}] (1 = no guidance)")
    if not 0.0 <= number <= MAX_GUIDANCE:
        raise CommandError(f"guidance G must be a number in [0, {MAX_GUIDANCE:g}] (1 = no guidance), got {value!r}")
    return number


def check_seed(value: Any) -> int:
    """A whole number in [0, 2**63 - 1]: ints (not bools) or digit strings; '4.5', '4.0' and 4.0 are refused."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INTEGER.match(value.strip()))):
        raise CommandError(f"seed must be a whole number in [0, {MAX_SEED}], e.g. 'seed 7', got {value!r}")
    seed = int(value)
    if not 0 <= seed <= MAX_SEED:
        raise CommandError(f"seed must be a whole number in [0, {MAX_SEED}], got {value!r}")
    return seed


def check_t_index(values: Sequence[Any]) -> tuple[int, ...]:
    """The denoising steps as whole numbers, strictly increasing, inside the 50-step LCM schedule."""
    if not values:
        raise CommandError("t_index needs the denoising steps, e.g. 't_index 30 40'")
    steps = []
    for v in values:
        if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and _INTEGER.match(v.strip()))):
            raise CommandError(f"t_index steps must be whole numbers, e.g. 't_index 30 40', got {v!r}")
        steps.append(int(v))
    try:
        return tuple(check_t_index_list(steps))
    except ValueError as exc:
        raise CommandError(f"t_index {exc}") from None


CHECKS: dict[str, Callable[[Any], Any]] = {
    "prompt": check_prompt, "strength": check_strength, "seed": check_seed, "guidance": check_guidance,
}


def edit(field: str, value: Any, origin: str) -> EditStyle:
    """The EditStyle for ``field`` = ``value`` after its check (CommandError naming the field otherwise)."""
    if field == "t_index_list":
        return EditStyle(field, check_t_index(value), origin=origin)
    return EditStyle(field, CHECKS[field](value), origin=origin)


def _number(value: Any, what: str, allowed: str) -> float:
    if isinstance(value, bool):
        raise CommandError(f"{what} must be a number in {allowed}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a number in {allowed}, got {value!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise CommandError(f"{what} must be a number in {allowed}, got {value!r}")
    return number
