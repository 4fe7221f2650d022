"""Watching a show profile while the show runs: re-validate on every edit, never break the show.

API (no extra dependency; plain polling)::

    watcher = ProfileWatcher(path)              # loads and validates now; ProfileError if invalid
    running = watcher.current                   # the last VALID profile (never an invalid one)

    # between frames / on a timer (cheap: one stat(); the file is read only when it changed)
    result = watcher.poll()                     # None | Profile | ProfileError
    if isinstance(result, Profile):             # valid new content: watcher.current is now it
        changes = diff_profiles(running, result)
        for line in changes.describe(): logger.info("profile: %s", line)
        if changes.restart: ...                 # source / sink / engine / models: restart that stage
        ...                                     # else apply changes.styles_* in place; running = result
    elif isinstance(result, ProfileError):      # show str(result) to the user; watcher.current is unchanged
        ...

    for result in watcher.watch(interval_s=0.5, stop=stop_event): ...   # the same, as a blocking iterator

Change detection: the file's (mtime_ns, size) is compared on each poll; when it differs (or the
last read was within ``RACY_S`` of the mtime, so a same-size rewrite in the same clock tick is not
missed) the bytes are read and hashed (SHA-256), and only new content is validated, from those
exact bytes. Each distinct content is reported once: an invalid save gives one ProfileError, not
one per poll; a touch or a save of identical bytes gives nothing. A file that disappears gives one
ProfileError (the show keeps its profile); when it comes back it is validated again. A valid
profile is returned whenever the content changes to valid content, even if it equals the running
one (so a UI can clear a shown error): ``diff_profiles`` then reports nothing to do.

``diff_profiles(old, new)`` says what changed, in the terms the runtime acts on:

* ``styles_added`` / ``styles_removed``;
* per style, by its effective settings: ``styles_prompt_changed`` (prompt, negative_prompt,
  prompt_template: re-encode the text, re-warm), ``styles_stream_changed`` (effective
  t_index_list from strength / t_index_list / engine, seed, noise_mode: reconfigure in place),
  ``styles_models_changed`` (effective base / style checkpoint / LoRAs / motion / LCM weights:
  ``weights.loader.load_style`` with ``new.models_for(style)``), ``styles_hotkey_changed``;
* ``hotkeys_changed``: any binding differs (re-register the hotkeys);
* ``restart``: sections whose change needs a stage restart: "source", "sink", "engine" (any
  engine field but t_index_list, which reaches the styles above), "models" (preset, vae, depth:
  parts a style switch does not reload);
* ``default_style_changed``, ``name_changed``: informational.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..plugin_api import PluginRegistry, discover_plugins
from .hotkeys import hotkey_signature
from .schema import Profile, ProfileError, StyleSection, parse_profile, read_profile_bytes

logger = logging.getLogger(__name__)

RACY_S = 2.0  # a file modified this close to our last read is re-hashed even if its stat looks the same

_PROMPT_FIELDS = ("prompt", "negative_prompt", "prompt_template")
_STREAM_FIELDS = ("seed", "noise_mode")
_MODELS_RESTART_FIELDS = ("preset", "vae", "depth")  # what load_style does not rebuild


@dataclass(frozen=True)
class _Seen:
    stat: tuple[int, int] | None  # (mtime_ns, size); None: the file was missing / unreadable
    digest: str | None
    read_at_ns: int  # wall clock (time.time_ns) of the read: compared with the file's mtime only


class ProfileWatcher:
    """Polls one profile file; ``current`` is always the last valid profile."""

    def __init__(
        self,
        path: str | Path,
        profile: Profile | None = None,
        registry: PluginRegistry | None = None,
        check_plugins: bool = True,
    ) -> None:
        """Read the file now. ``profile``: the running one (else the file is validated now, raising
        ProfileError if invalid). Plugin settings are checked against ``registry`` (discovered once)."""
        self.path = Path(path)
        self.check_plugins = check_plugins
        self.registry = registry if registry is not None or not check_plugins else discover_plugins()
        raw = read_profile_bytes(self.path)
        self.current = profile if profile is not None else self._parse(raw)
        self._seen = _Seen(self._stat(), _digest(raw), time.time_ns())

    def poll(self) -> Profile | ProfileError | None:
        """One check: None (no new content), the new valid Profile, or why the new content is invalid."""
        stat = self._stat()
        if stat == self._seen.stat and not self._racy(stat):
            return None
        read_at = time.time_ns()
        try:
            raw = read_profile_bytes(self.path)
        except ProfileError as exc:
            previous, self._seen = self._seen, _Seen(None, None, read_at)
            return exc if previous.digest is not None else None  # report a vanished file once
        digest = _digest(raw)
        previous, self._seen = self._seen, _Seen(stat, digest, read_at)
        if digest == previous.digest:
            return None
        try:
            profile = self._parse(raw)
        except ProfileError as exc:
            logger.warning("profile %s changed but is invalid; keeping the running profile:\n%s", self.path, exc)
            return exc
        self.current = profile
        logger.info("profile %s changed and is valid", self.path)
        return profile

    def watch(self, interval_s: float = 0.5, stop: threading.Event | None = None) -> Iterator[Profile | ProfileError]:
        """``poll`` every ``interval_s`` until ``stop`` is set, yielding each result that is not None."""
        stop = stop or threading.Event()
        while not stop.is_set():
            result = self.poll()
            if result is not None:
                yield result
            stop.wait(interval_s)

    def _parse(self, raw: bytes) -> Profile:
        return parse_profile(raw, self.path, self.registry, self.check_plugins)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _racy(self, stat: tuple[int, int] | None) -> bool:
        return stat is not None and stat[0] >= self._seen.read_at_ns - int(RACY_S * 1e9)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- what changed ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileChanges:
    """What differs between two valid profiles (see the module docstring for what each means)."""

    styles_added: tuple[str, ...] = ()
    styles_removed: tuple[str, ...] = ()
    styles_prompt_changed: tuple[str, ...] = ()
    styles_stream_changed: tuple[str, ...] = ()
    styles_models_changed: tuple[str, ...] = ()
    styles_hotkey_changed: tuple[str, ...] = ()
    hotkeys_changed: bool = False
    restart: tuple[str, ...] = ()  # "source", "sink", "engine", "models"
    default_style_changed: bool = False
    name_changed: bool = False
    details: tuple[str, ...] = field(default=(), compare=False)  # one human line per change

    @property
    def empty(self) -> bool:
        return not self.details

    @property
    def prompt_only(self) -> bool:
        """Only prompts changed: every running style can be updated by re-encoding its text."""
        return not self.empty and all(
            not getattr(self, name)
            for name in ("styles_added", "styles_removed", "styles_stream_changed", "styles_models_changed",
                         "styles_hotkey_changed", "hotkeys_changed", "restart", "default_style_changed",
                         "name_changed")
        )

    def describe(self) -> list[str]:
        return list(self.details) or ["no change"]


def diff_profiles(old: Profile, new: Profile) -> ProfileChanges:
    """What changed from ``old`` to ``new``, by effective settings (a style's strength and its
    t_index_list are compared as the steps they give; its models as ``models_for`` resolves them)."""
    details: list[str] = []
    old_styles = {s.name: s for s in old.styles}
    new_styles = {s.name: s for s in new.styles}
    added = tuple(n for n in new_styles if n not in old_styles)
    removed = tuple(n for n in old_styles if n not in new_styles)
    details += [f"style {n!r} added" for n in added] + [f"style {n!r} removed" for n in removed]
    prompt, stream, models, hotkey = [], [], [], []
    for name in (n for n in new_styles if n in old_styles):
        a, b = old_styles[name], new_styles[name]
        if fields := _changed(a, b, _PROMPT_FIELDS):
            prompt.append(name)
            details.append(f"style {name!r}: {', '.join(fields)} changed (re-encode the prompt)")
        stream_fields = _changed(a, b, _STREAM_FIELDS)
        if old.t_index_list(a) != new.t_index_list(b):
            stream_fields.append(f"steps {list(old.t_index_list(a))} -> {list(new.t_index_list(b))}")
        if stream_fields:
            stream.append(name)
            details.append(f"style {name!r}: {', '.join(stream_fields)} changed (reconfigure the stream)")
        if old.models_for(a) != new.models_for(b):
            models.append(name)
            details.append(f"style {name!r}: models changed (load the style's weights again)")
        if _signature(a.hotkey) != _signature(b.hotkey):
            hotkey.append(name)
            details.append(f"style {name!r}: hotkey {a.hotkey!r} -> {b.hotkey!r}")
    hotkeys_changed = _bindings(old) != _bindings(new)
    if hotkeys_changed and not hotkey and not added and not removed:
        details.append("action hotkeys changed")
    restart = _restart_sections(old, new)
    details += [f"{section} changed (restart needed)" for section in restart]
    default_changed = old.style().name != new.style().name
    if default_changed:
        details.append(f"default style {old.style().name!r} -> {new.style().name!r} (applies at the next start)")
    if old.name != new.name:
        details.append(f"name {old.name!r} -> {new.name!r}")
    return ProfileChanges(
        styles_added=added, styles_removed=removed, styles_prompt_changed=tuple(prompt),
        styles_stream_changed=tuple(stream), styles_models_changed=tuple(models),
        styles_hotkey_changed=tuple(hotkey), hotkeys_changed=hotkeys_changed, restart=restart,
        default_style_changed=default_changed, name_changed=old.name != new.name, details=tuple(details),
    )


def _changed(a: StyleSection, b: StyleSection, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if getattr(a, n) != getattr(b, n)]


def _restart_sections(old: Profile, new: Profile) -> tuple[str, ...]:
    sections = []
    if old.source != new.source:
        sections.append("source")
    if old.sink != new.sink:
        sections.append("sink")
    if old.engine.model_dump(exclude={"t_index_list"}) != new.engine.model_dump(exclude={"t_index_list"}):
        sections.append("engine")
    if any(getattr(old.models, f) != getattr(new.models, f) for f in _MODELS_RESTART_FIELDS):
        sections.append("models")
    return tuple(sections)


def _signature(hotkey: str | None) -> object:
    return None if hotkey is None else hotkey_signature(hotkey)


def _bindings(profile: Profile) -> set[tuple[object, str, str | None]]:
    return {(_signature(b.hotkey), b.action, b.style) for b in profile.hotkey_bindings()}
