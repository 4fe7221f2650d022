"""What a saved profile changes in a running show, and what waits for the next start.

* styles (prompts, strength / steps, seed, models, hotkeys, added / removed): applied live, as a
  new SetStyle for the style on air (models prepared in the background) and re-bound hotkeys;
* [engine] (except t_index_list, which reaches the styles) and [models] preset / vae / depth:
  the engine process restarts; passthrough covers while it loads;
* [source]: the source reconnects at once (NO SIGNAL for that moment), whatever backoff it was in;
* [output] and [watchdog]: applied live, from the next tick;
* [sink] / [[sinks]] and engine.width / height: at the next start. The sinks are opened at the model
  size, and reopening them mid-show would drop the virtual camera / NDI source that OBS or viewers hold.

``diff_profiles(old, new)`` says what changed, in the terms the runtime acts on:

* ``styles_added`` / ``styles_removed``;
* per style, by its effective settings: ``styles_prompt_changed`` (prompt, negative_prompt,
  prompt_template, effective clip_skip: re-encode the text, re-warm), ``styles_stream_changed`` (effective
  t_index_list from strength / t_index_list / engine, seed, noise_mode, guidance: reconfigure in place),
  ``styles_models_changed`` (effective base / style checkpoint / LoRAs / motion / LCM weights:
  ``weights.loader.load_style`` with ``new.models_for(style)``), ``styles_hotkey_changed``;
* ``hotkeys_changed``: any binding differs (re-register the hotkeys);
* ``restart``: sections whose change needs a stage restart: "source", "sink", "engine" (any
  engine field but t_index_list, which reaches the styles above), "models" (preset, vae, depth:
  parts a style switch does not reload);
* ``live``: sections applied in place: "output", "watchdog";
* ``default_style_changed``, ``name_changed``: informational.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .hotkeys import hotkey_signature
from .schema import Profile, StyleSection

_PROMPT_FIELDS = ("prompt", "negative_prompt", "prompt_template")
_STREAM_FIELDS = ("seed", "noise_mode", "guidance")
_MODELS_RESTART_FIELDS = ("preset", "vae", "depth")  # what load_style does not rebuild


@dataclass(frozen=True)
class ReloadPlan:
    profile: Profile  # what runs from now on (``new`` with the next-start-only parts kept as they were)
    restart_engine: bool
    restart_source: bool
    lines: tuple[str, ...]  # what changed and what happens, for the log and the control server


def plan_reload(old: Profile, new: Profile) -> ReloadPlan:
    changes = diff_profiles(old, new)
    lines = [line for line in changes.describe()]
    keep: dict[str, object] = {}
    if "sink" in changes.restart:
        keep["sink"], keep["sinks"] = old.sink, old.sinks
        lines.append("[sink] / [[sinks]] changes apply at the next start (reopening a sink would drop what OBS / "
                     "viewers hold)")
    engine = new.engine
    if (engine.width, engine.height) != (old.engine.width, old.engine.height):
        engine = engine.model_copy(update={"width": old.engine.width, "height": old.engine.height})
        lines.append(f"engine size {new.engine.width}x{new.engine.height} applies at the next start "
                     f"(the output stays {old.engine.width}x{old.engine.height} while streaming)")
        keep["engine"] = engine
    restart_engine = (
        old.engine.model_dump(exclude={"t_index_list"}) != engine.model_dump(exclude={"t_index_list"})
        or "models" in changes.restart
    )
    if restart_engine:
        lines.append("restarting the engine process (passthrough while it loads)")
    restart_source = "source" in changes.restart
    if restart_source:
        lines.append("reconnecting the source")
    return ReloadPlan(new.model_copy(update=keep) if keep else new, restart_engine, restart_source, tuple(lines))


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
    live: tuple[str, ...] = ()  # "output", "watchdog": applied in place
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
                         "styles_hotkey_changed", "hotkeys_changed", "restart", "live", "default_style_changed",
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
        fields = _changed(a, b, _PROMPT_FIELDS)
        if old.clip_skip(a) != new.clip_skip(b):
            fields.append(f"clip_skip {old.clip_skip(a)} -> {new.clip_skip(b)}")
        if fields:
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
    live = tuple(section for section in ("output", "watchdog") if getattr(old, section) != getattr(new, section))
    details += [f"[{section}] changed (applied live)" for section in live]
    default_changed = old.style().name != new.style().name
    if default_changed:
        details.append(f"default style {old.style().name!r} -> {new.style().name!r} (applies at the next start)")
    if old.name != new.name:
        details.append(f"name {old.name!r} -> {new.name!r}")
    return ProfileChanges(
        styles_added=added, styles_removed=removed, styles_prompt_changed=tuple(prompt),
        styles_stream_changed=tuple(stream), styles_models_changed=tuple(models),
        styles_hotkey_changed=tuple(hotkey), hotkeys_changed=hotkeys_changed, restart=restart, live=live,
        default_style_changed=default_changed, name_changed=old.name != new.name, details=tuple(details),
    )


def _changed(a: StyleSection, b: StyleSection, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if getattr(a, n) != getattr(b, n)]


def _restart_sections(old: Profile, new: Profile) -> tuple[str, ...]:
    sections = []
    if old.source != new.source:
        sections.append("source")
    if old.sink_sections() != new.sink_sections():
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
