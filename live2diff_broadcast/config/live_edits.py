"""Live edits: per-style overrides of the profile (prompt, strength / t_index_list, seed, guidance).

A performer changes the style on air without touching the file; the edits sit on top of the
running profile until one of:

- ``save``: written into the profile file (``config/save.py``) and then part of the profile;
- ``revert``: dropped, the style is the profile's again;
- a profile edit of the same field (hot reload, ``reconcile``): the file's newer value wins;
- the style is removed from the profile, or the show stops (edits live in memory only).

Edits belong to their style: switching away and back brings the style back as it was left.
``strength`` and ``t_index_list`` are alternatives (as in the profile): setting one drops the other.
Every edit is validated as the profile would validate it (``StyleSection`` and the strength-to-steps
mapping), so an effective style is always one the file could hold.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from .schema import Profile, StyleSection
from .schema.steps import strength_to_t_index_list

logger = logging.getLogger(__name__)

FIELDS = ("prompt", "strength", "t_index_list", "seed", "guidance")
_ALTERNATIVE = {"strength": "t_index_list", "t_index_list": "strength"}


class LiveEditError(ValueError):
    """An edit the profile could not hold; the message names the field, the value and what is allowed."""


class LiveEdits:
    def __init__(self) -> None:
        self.edits: dict[str, dict[str, Any]] = {}  # style name -> {field: value}, only fields that differ

    def set(self, profile: Profile, name: str, field: str, value: Any) -> StyleSection:
        """Edit ``field`` of style ``name``; returns the style as it now runs (LiveEditError when invalid)."""
        if field not in FIELDS:
            raise LiveEditError(f"{field!r} is not a live parameter; live: {', '.join(FIELDS)}")
        fields = dict(self.edits.get(name, {}))
        fields[field] = value
        fields.pop(_ALTERNATIVE.get(field, ""), None)
        style = _edited(profile, profile.style(name), fields)
        self._store(profile.style(name), name, fields)
        return style

    def revert(self, name: str) -> list[str]:
        """Drop the edits of style ``name``; returns the fields that were edited."""
        return sorted(self.edits.pop(name, {}))

    def of(self, name: str) -> dict[str, Any]:
        return dict(self.edits.get(name, {}))

    def style(self, profile: Profile, name: str | None = None) -> StyleSection:
        """Style ``name`` of ``profile`` with its live edits."""
        style = profile.style(name)
        fields = self.edits.get(style.name)
        return style if not fields else _edited(profile, style, fields)

    def effective(self, profile: Profile) -> Profile:
        """``profile`` with every style's live edits applied (what the show runs)."""
        if not self.edits:
            return profile
        return profile.model_copy(update={"styles": [self.style(profile, s.name) for s in profile.styles]})

    def saved(self, names: list[str]) -> None:
        """These styles' edits are in the profile now."""
        for name in names:
            self.edits.pop(name, None)

    def reconcile(self, old: Profile, new: Profile) -> list[str]:
        """A reloaded profile: the file's changed fields replace their live edits; edits of removed
        styles (or that no longer validate) are dropped. Returns what happened, one line each."""
        lines: list[str] = []
        names = {s.name for s in new.styles}
        for name in list(self.edits):
            if name not in names:
                lines.append(f"style {name!r} is gone from the profile: its live edits ({', '.join(sorted(self.edits[name]))}) "
                             "are dropped")
                del self.edits[name]
                continue
            before, after = old.style(name) if name in {s.name for s in old.styles} else None, new.style(name)
            fields = dict(self.edits[name])
            for field in list(fields):
                if before is None or _file_value(old, before, field) != _file_value(new, after, field):
                    lines.append(f"style {name!r}: the profile's new {field} replaces the live edit")
                    fields.pop(field)
            try:
                _edited(new, after, fields)
            except LiveEditError as exc:
                lines.append(f"style {name!r}: live edits dropped, they no longer fit the profile ({exc})")
                fields = {}
            self._store(after, name, fields)
        return lines

    def _store(self, style: StyleSection, name: str, fields: dict[str, Any]) -> None:
        """Keep only the fields that differ from the profile's style."""
        fields = {f: v for f, v in fields.items() if not _same_as_file(style, f, v)}
        if fields:
            self.edits[name] = fields
        else:
            self.edits.pop(name, None)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready: {style: {field: value}} (tuples as lists)."""
        return {name: {f: list(v) if isinstance(v, tuple) else v for f, v in fields.items()}
                for name, fields in self.edits.items()}


def _edited(profile: Profile, style: StyleSection, fields: dict[str, Any]) -> StyleSection:
    data = style.model_dump()
    for field, value in fields.items():
        data[field] = list(value) if field == "t_index_list" else value
        if field in _ALTERNATIVE:
            data[_ALTERNATIVE[field]] = None
    try:
        edited = StyleSection.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "style"
        raise LiveEditError(f"{where}: {problem['msg']}, got {problem.get('input')!r}") from None
    if edited.strength is not None:
        try:
            strength_to_t_index_list(edited.strength, len(profile.engine.t_index_list))
        except ValueError as exc:
            raise LiveEditError(str(exc)) from None
    return edited


def _same_as_file(style: StyleSection, field: str, value: Any) -> bool:
    current = getattr(style, field)
    if field == "t_index_list":
        return current is not None and tuple(current) == tuple(value)
    if field == "strength":
        return current == value and style.t_index_list is None
    return bool(current == value)


def _file_value(profile: Profile, style: StyleSection, field: str) -> Any:
    """What the file says for ``field``, steps compared as the steps they give."""
    if field in ("strength", "t_index_list"):
        return profile.t_index_list(style)
    return getattr(style, field)
