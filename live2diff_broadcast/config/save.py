"""Writing live edits back into a profile file: on request only, with its comments and layout kept.

``save_edits(path, edits)`` (the ``save`` command):

1. reads the file as it is NOW (it may have been edited since the show loaded it);
2. finds each edited style's ``[[styles]]`` table (or inline table) by name and sets only the
   edited keys with tomlkit, so every comment, blank line and key order stays; ``strength`` and
   ``t_index_list`` are alternatives, so setting one removes the other;
3. validates the result exactly as loading would (``parse_profile``); an invalid result is a
   SaveError naming the file and the problem, and the file is not touched;
4. replaces the file atomically (a temporary file in the same folder, its permissions copied,
   flushed to disk, then renamed over it: a crash leaves the old or the new file, never half).
   A symlinked profile is written through to its target.

``around_write(raw, profile)`` is a context the write happens in: the show's profile watcher holds its
polls there and takes the new content as seen, so it does not report our own save back as an edit.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from .schema import Profile, ProfileError, parse_profile, read_profile_bytes

if TYPE_CHECKING:
    from ..plugin_api import PluginRegistry

logger = logging.getLogger(__name__)

_ALTERNATIVE = {"strength": "t_index_list", "t_index_list": "strength"}


class SaveError(ValueError):
    """The edits could not be written; the message names the file and why. The file is unchanged."""


@dataclass(frozen=True)
class Saved:
    path: Path
    profile: Profile  # the file's new content, validated
    raw: bytes
    lines: tuple[str, ...]  # what was written, one line per style


def save_edits(
    path: str | Path,
    edits: dict[str, dict[str, Any]],
    registry: PluginRegistry | None = None,
    check_plugins: bool = True,
    around_write: Callable[[bytes, Profile], AbstractContextManager[None]] | None = None,
) -> Saved:
    """Write ``edits`` ({style: {field: value}}) into the profile at ``path``; SaveError if it cannot."""
    if not edits:
        raise SaveError("no live edits to save")
    target = Path(path).resolve()
    # 1. the file as it is now
    try:
        text = read_profile_bytes(target).decode("utf-8")
        document = tomlkit.parse(text)
    except (ProfileError, UnicodeDecodeError, TOMLKitError) as exc:
        raise SaveError(f"{path}: cannot read the profile to save into it ({exc}); nothing written") from None
    # 2. only the edited keys of the edited styles
    lines = []
    for name, fields in edits.items():
        table = _style_table(document, name, path)
        for field, value in fields.items():
            table[field] = list(value) if isinstance(value, tuple) else value
            if field in _ALTERNATIVE and _ALTERNATIVE[field] in table:
                del table[_ALTERNATIVE[field]]
        lines.append(f"style {name!r}: " + ", ".join(f"{f} = {_show(v)}" for f, v in fields.items()))
    raw = tomlkit.dumps(document).encode("utf-8")
    # 3. the result must load as the show would load it
    try:
        profile = parse_profile(raw, path, registry, check_plugins)
    except ProfileError as exc:
        raise SaveError(f"{path}: the profile would not load with these edits, nothing written:\n{exc}") from None
    # 4. atomically
    with nullcontext() if around_write is None else around_write(raw, profile):
        _replace(target, raw)
    logger.info("profile %s saved: %s", path, "; ".join(lines))
    return Saved(Path(path), profile, raw, tuple(lines))


def _style_table(document: Any, name: str, path: str | Path) -> Any:
    styles = document.get("styles")
    for table in styles if styles is not None else []:
        if table.get("name") == name:
            return table
    raise SaveError(f"{path}: no [[styles]] entry named {name!r} in the file (renamed or removed since the show "
                    "loaded it?); nothing written")


def _show(value: Any) -> str:
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _replace(target: Path, raw: bytes) -> None:
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".saving", dir=target.parent)
    except OSError as exc:
        raise SaveError(f"{target}: cannot write next to it ({exc.strerror or exc}); the file is unchanged") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SaveError(f"{target}: cannot write ({exc.strerror or exc}); the file is unchanged") from None
