"""The profile's ``[obs]`` section: which OBS to follow, and which style each OBS scene gets.

    [obs]
    enabled = true
    host = "127.0.0.1"
    port = 4455
    text_source = "Live2Diff style"      # optional: a Text source OBS shows the style on air in
    [obs.scenes]
    "Just Chatting" = "anime"
    "BRB" = "passthrough"                # the camera as it is (passthrough on); other scenes turn it off

The obs-websocket password is never read from the profile: set ``LIVE2DIFF_OBS_PASSWORD`` in the
environment (empty or unset: OBS's authentication must be off).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import did_you_mean

PASSWORD_ENV = "LIVE2DIFF_OBS_PASSWORD"
PASSTHROUGH = "passthrough"  # a scene value that means "passthrough on" rather than a style


class ObsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=4455, ge=1, le=65535)  # OBS: Tools > WebSocket Server Settings
    scenes: dict[str, str] = Field(default_factory=dict)  # OBS scene name -> style name or "passthrough"
    text_source: str | None = Field(default=None, min_length=1)  # an OBS Text source to show the style in
    text_format: str = "{style}"  # what the text source shows; {style} is the style on air
    connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, ge=1, le=600)  # backoff cap while OBS is away

    @model_validator(mode="before")
    @classmethod
    def _no_password_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(f"password: not read from the profile file (it would end up in backups and repos); "
                             f"set the environment variable {PASSWORD_ENV} instead")
        return data

    @field_validator("text_format")
    @classmethod
    def _format_has_style(cls, v: str) -> str:
        try:
            v.format(style="x")
        except (IndexError, KeyError, ValueError):
            raise ValueError(f"may use only {{style}} (write literal braces as '{{{{' '}}}}'), got {v!r}") from None
        return v


def obs_problems(section: ObsSection, styles: list[str]) -> list[str]:
    """One line per ``[obs.scenes]`` value that is neither a style of the profile nor "passthrough"."""
    problems = []
    for scene, target in section.scenes.items():
        if target == PASSTHROUGH:
            if PASSTHROUGH in styles:
                problems.append(f"obs.scenes.{scene!r}: {target!r} is ambiguous: a style has that name too; "
                                "rename the style")
            continue
        if target not in styles:
            problems.append(f"obs.scenes.{scene!r}: {target!r} is not a style{did_you_mean(target, styles)} "
                            f"(expected one of: {', '.join(styles)}, or {PASSTHROUGH!r})")
    return problems
