"""[[styles]]: one look each: prompt, models overrides, strength or steps, seed, hotkey, crossfade."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ...engine.config import MAX_GUIDANCE
from ..hotkeys import Hotkey
from .base import Section
from .models import LoraSection, unique_fader_names
from .steps import TIndexList


class StyleSection(Section):
    name: str = Field(min_length=1)
    prompt: str
    # Kept for profiles shared with CFG tools; the LCM engine has no unconditional branch and IGNORES it.
    negative_prompt: str = ""
    prompt_template: str = "{}"  # "{}" is replaced by the prompt, e.g. "cartoon style, {}" (trigger words)
    # Models for this style; unset = [models]' own. style_checkpoint "" or "none": no checkpoint;
    # loras = []: no LoRAs, even where [models] names some.
    base: str | None = None
    style_checkpoint: str | None = None
    loras: list[LoraSection] | None = None
    _loras_unique = field_validator("loras")(unique_fader_names)
    # How far from the input: strength in (0, 1] OR an explicit t_index_list (never both); unset = engine's.
    strength: float | None = Field(default=None, gt=0, le=1)
    t_index_list: TIndexList | None = None
    clip_skip: int | None = Field(default=None, ge=1)  # CLIP layer from the end for this style; unset = engine's
    seed: int = 42
    # Residual self-guidance (engine/guidance.py): 1 = none (the plain LCM engine), > 1 stronger style,
    # < 1 closer to the input (0: about the input itself). No extra UNet pass.
    guidance: float = Field(default=1.0, ge=0, le=MAX_GUIDANCE)
    noise_mode: Literal["per_frame", "fixed"] = "per_frame"
    hotkey: Hotkey | None = None  # selects this style
    # Switching TO this style: 0 = hold-then-cut; N > 0 = crossfade over N input frames when the style on air
    # runs on the same models with the same step count (otherwise a cut). After it, "rewarm" re-warms the
    # sinks in this style (ends exactly as a cut would), "refresh" keeps them and lets the window refresh.
    crossfade_frames: int = Field(default=0, ge=0, le=10_000)
    crossfade_settle: Literal["rewarm", "refresh"] = "rewarm"

    @field_validator("prompt_template")
    @classmethod
    def _template_has_slot(cls, v: str) -> str:
        if v.count("{}") != 1:
            raise ValueError(f"must contain '{{}}' once, where the prompt goes, got {v!r}")
        try:
            v.format("")
        except (IndexError, KeyError, ValueError):
            raise ValueError(f"write literal braces as '{{{{' and '}}}}', got {v!r}") from None
        return v

    @field_validator("base")
    @classmethod
    def _base_not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty model source; leave base out to use [models].base")
        return v

    @model_validator(mode="after")
    def _strength_or_t_index_list(self) -> StyleSection:
        if self.strength is not None and self.t_index_list is not None:
            raise ValueError(
                f"strength ({self.strength}) and t_index_list ({self.t_index_list}) are alternatives; give one"
            )
        return self
