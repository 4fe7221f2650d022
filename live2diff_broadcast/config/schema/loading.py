"""Reading a profile file: bytes -> TOML -> Profile, every problem in one ProfileError naming the file."""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import format_errors, report
from .plugins import plugin_problems, raw_plugin_sections
from .profile import Profile

if TYPE_CHECKING:
    from ...plugin_api import PluginRegistry

logger = logging.getLogger(__name__)

MAX_PROFILE_BYTES = 1024 * 1024  # a show profile is a few KB of TOML; /dev/zero or a 3 GB file is refused unread
_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"))


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file, the field and what is allowed."""


def load_profile(path: str | Path | None, registry: PluginRegistry | None = None, check_plugins: bool = True) -> Profile:
    """Read and validate a profile TOML (None: the built-in defaults).

    With ``check_plugins`` the source and sink settings are validated against their plugins'
    declared Settings (``registry``, else ``discover_plugins()``). Raises ProfileError.
    """
    if path is None:
        return Profile()
    path = Path(path)
    return parse_profile(read_profile_bytes(path), path, registry, check_plugins)


def parse_profile(
    raw: bytes, path: str | Path, registry: PluginRegistry | None = None, check_plugins: bool = True
) -> Profile:
    """Validate a profile file's bytes (``path`` only names it in errors); as ``load_profile``."""
    path = Path(path)
    data = _parse_toml(raw, path)
    try:
        profile = Profile(**data)
    except ValidationError as exc:
        problems = format_errors(exc.errors(), Profile, ())
        if check_plugins:  # the plugin sections that did parse are checked too: one report, every problem
            problems += plugin_problems(raw_plugin_sections(data), registry)
        raise ProfileError(report(path, problems)) from None
    if check_plugins:
        problems = plugin_problems({"source": profile.source, **dict(profile.sink_sections())}, registry)
        if problems:
            raise ProfileError(report(path, problems))
    for i, style in enumerate(profile.styles):
        if style.negative_prompt:
            logger.debug("%s: styles[%d].negative_prompt is kept for other tools; the LCM engine (no unconditional branch) "
                         "ignores it", path, i)
    return profile


def read_profile_bytes(path: Path) -> bytes:
    """The file's bytes, or a ProfileError that says why not: only a regular file of at most
    ``MAX_PROFILE_BYTES`` is read (a device, a pipe or a huge file is refused before reading)."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except IsADirectoryError:
        raise ProfileError(f"{path}: is a directory, expected a TOML profile file") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ProfileError(f"{path}: is a directory, expected a TOML profile file")
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise ProfileError(f"{path}: is {kind}; expected a TOML profile file (a regular file)")
        if info.st_size > MAX_PROFILE_BYTES:
            raise ProfileError(_too_large(path, info.st_size))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_PROFILE_BYTES:  # the file may grow while we read: never past the limit
            chunk = os.read(fd, MAX_PROFILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(_too_large(path, size))
        return b"".join(chunks)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _too_large(path: Path, size: int) -> str:
    return (f"{path}: {size / 1e6:.1f} MB, over the {MAX_PROFILE_BYTES // 1024} KiB limit for a profile "
            "(a show profile is a few KB of TOML)")


def _parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        if b"\x00" in raw:
            raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1, "NUL byte")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not a text file (expected a UTF-8 TOML profile)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
    if not data:
        raise ProfileError(
            f"{path}: empty profile (no settings); expected at least [[styles]] with name and prompt, "
            "see profiles/example_show.toml"
        )
    return data
