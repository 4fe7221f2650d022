"""Profile validation errors as lines a user can act on: file, field path, value, what is allowed.

``engine.widht: unknown key; did you mean 'width'?; allowed: clip_skip, device, ...``
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

ENV_PREFIX = "LIVE2DIFF_"


def report(path: Path, problems: list[str]) -> str:
    return "\n".join([f"{path}: invalid profile:"] + [f"  {p}" for p in problems])


def format_errors(
    errors: Sequence[Any], root: type[BaseModel], prefix: tuple[str | int, ...], note: str = ""
) -> list[str]:
    """One line per pydantic error: field path, what is wrong, the value, what is allowed."""
    lines = []
    for err in errors:
        loc = tuple(err["loc"])
        where = _loc_str(prefix + loc)
        if not loc and err["type"] == "value_error":  # Profile._consistent: lines that name their own fields
            lines += str(err["ctx"]["error"]).splitlines()
            continue
        if err["type"] == "extra_forbidden":
            allowed = sorted(_fields_at(root, loc[:-1]))
            msg = f"unknown key{did_you_mean(str(loc[-1]), allowed)}; allowed: {', '.join(allowed)}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        else:
            text = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
            got = "" if isinstance(err["input"], dict) else f" (got {_short(err['input'])})"
            msg = f"{text}{got}"
        lines.append(f"{where}: {note}{msg}{_env_note(prefix + loc)}")
    return lines


def did_you_mean(word: str, options: Sequence[str] | dict[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _loc_str(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _env_note(loc: tuple[str | int, ...]) -> str:
    if not loc or not all(isinstance(p, str) for p in loc):
        return ""
    name = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
    return f" [set by the environment variable {name}]" if name in os.environ else ""


def _fields_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names of the model found by following ``loc`` from ``root`` (lists and optionals unwrapped)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
