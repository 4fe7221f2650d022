"""Denoising steps: a validated t_index_list, and img2img strength mapped onto one (see the package docstring)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from ...engine.config import DEFAULT_NUM_SCHEDULE_STEPS


def check_t_index_list(value: list[int]) -> list[int]:
    if not value:
        raise ValueError("must name at least one denoising step, e.g. [30, 40]")
    if value != sorted(set(value)):
        raise ValueError(f"must be strictly increasing, got {value}")
    if value[0] < 0 or value[-1] >= DEFAULT_NUM_SCHEDULE_STEPS:
        raise ValueError(f"entries must lie in [0, {DEFAULT_NUM_SCHEDULE_STEPS}) of the LCM schedule, got {value}")
    return value


TIndexList = Annotated[list[int], AfterValidator(check_t_index_list)]


def strength_to_t_index_list(strength: float, steps: int) -> list[int]:
    """The t_index_list for img2img ``strength`` in (0, 1] with ``steps`` denoising steps (module docstring)."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    k = int(strength * DEFAULT_NUM_SCHEDULE_STEPS + 0.5)  # schedule steps denoised; round half up
    if k < steps:
        raise ValueError(
            f"strength {strength} denoises {k} of the {DEFAULT_NUM_SCHEDULE_STEPS} schedule steps, fewer than the "
            f"{steps} denoising steps of engine.t_index_list; use strength >= {steps / DEFAULT_NUM_SCHEDULE_STEPS:g}"
        )
    first = DEFAULT_NUM_SCHEDULE_STEPS - k
    return [first + (i * k) // steps for i in range(steps)]
