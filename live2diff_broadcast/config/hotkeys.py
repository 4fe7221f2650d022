"""Hotkey strings as the keyboard library reads them: checked, and compared by meaning.

``hotkey_signature("Ctrl+1") == hotkey_signature("ctrl+1")``: the signature is what the keyboard
library's ``parse_hotkey`` makes of the string (scan codes per key, one set per step), so
spellings and key order do not matter. Where the library has no key table (Linux without the
``dumpkeys`` tool of the Debian package kbd) or cannot be imported, the check falls back to the
library's own name normalisation and logs a note once: syntax and duplicates are still caught,
unknown key names are not.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from pydantic import AfterValidator

logger = logging.getLogger(__name__)

HOTKEY_ACTIONS = ("next_style", "previous_style", "passthrough", "rewarm")

HotkeySignature = tuple[frozenset[Any], ...]  # one set of keys per step; equal signatures = same hotkey


@functools.lru_cache(maxsize=1)
def _keyboard_module() -> ModuleType | None:
    try:
        import keyboard
    except Exception as exc:  # noqa: BLE001 - any import failure only disables the key-name check
        logger.info("hotkeys: the keyboard library cannot be imported (%s); key names are not checked", exc)
        return None
    return keyboard


@functools.lru_cache(maxsize=1)
def _note_no_key_table(reason: str) -> None:
    logger.info(
        "hotkeys: the keyboard library has no key table here (%s; on Linux it runs `dumpkeys`, Debian package "
        "kbd); hotkey syntax is checked and names are compared, but unknown key names are not caught", reason,
    )


def _name_signature(hotkey: str, keyboard: ModuleType | None) -> HotkeySignature:
    """Key names split the way the keyboard library splits them, normalised by its own name table."""
    normalize = keyboard._canonical_names.normalize_name if keyboard is not None else None
    steps = []
    for step in re.split(r",\s?", hotkey):
        names = []
        for key in re.split(r"\s?\+\s?", step):
            if normalize is not None:
                names.append(normalize(key).lower())  # ValueError for an empty name; "R" is the r key
            elif key.strip():
                names.append(key.strip().lower())
            else:
                raise ValueError(f"empty key name in {hotkey!r}")
        steps.append(frozenset(names))
    return tuple(steps)


def hotkey_signature(hotkey: str) -> HotkeySignature:
    """What ``hotkey`` means to the keyboard library; ValueError (its message) when it cannot parse it."""
    if not hotkey.strip():
        raise ValueError("empty hotkey; expected something like 'ctrl+alt+1'")
    keyboard = _keyboard_module()
    if keyboard is None:
        return _name_signature(hotkey, None)
    try:
        steps = keyboard.parse_hotkey(hotkey)
    except ValueError as exc:
        raise ValueError(f"the keyboard library cannot parse {hotkey!r}: {exc.args[0] if exc.args else exc}") from None
    except OSError as exc:  # no key table on this machine (Linux without `dumpkeys`)
        _note_no_key_table(f"{type(exc).__name__}: {exc}")
        try:
            return _name_signature(hotkey, keyboard)
        except ValueError as name_exc:
            raise ValueError(f"the keyboard library cannot parse {hotkey!r}: {name_exc}") from None
    return tuple(frozenset(tuple(sorted(codes)) for codes in step) for step in steps)


def _check_hotkey(value: str) -> str:
    hotkey_signature(value)
    return value


Hotkey = Annotated[str, AfterValidator(_check_hotkey)]


@dataclass(frozen=True)
class HotkeyBinding:
    """One hotkey and what it does: ``action`` is one of HOTKEY_ACTIONS, or "style" with ``style`` set."""

    hotkey: str
    action: str
    style: str | None = None
    field: str = ""  # where it is set, e.g. "styles[2].hotkey" or "hotkeys.rewarm"
