"""The base of every profile section: unknown keys are rejected (and the nearest valid one suggested)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
