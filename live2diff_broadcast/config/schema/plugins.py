"""[source] / [sink] / [[sinks]]: a plugin name and its settings, checked against the plugin's declared Settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError

from ..errors import did_you_mean, format_errors
from .base import Section

if TYPE_CHECKING:
    from ...plugin_api import PluginRegistry


class PluginSection(Section):
    plugin: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


class SinkSection(PluginSection):
    # How logs, the status line and the dock call this sink (default: its plugin name); unique among [[sinks]].
    name: str | None = Field(default=None, min_length=1, max_length=64)

    def label(self, where: str) -> str:
        """What logs and the status call it: ``where`` (its field path) and plugin, and its name if it has one,
        e.g. "sinks[1] ndi 'studio'" or "sink file"."""
        return f"{where} {self.plugin}" + (f" {self.name!r}" if self.name else "")


OpenFailure = Literal["auto", "exit", "retry"]


class SourceSection(PluginSection):
    # A source that cannot be opened when the show starts: "exit" (run stops with error 2, naming it and why),
    # "retry" (NO SIGNAL while it keeps trying, with backoff); "auto": the plugin's own choice (Source.retry_open:
    # a file exits, cameras, NDI and the test pattern retry). A source lost later is always reconnected.
    on_open_failure: OpenFailure = "auto"


def plugin_problems(sections: Mapping[str, PluginSection], registry: PluginRegistry | None = None) -> list[str]:
    """For {"source": ..., "sink": ...} or {"source": ..., "sinks[0]": ..., "sinks[1]": ...} (field path ->
    section): the plugins not installed, or their settings invalid, one line each, named by field path."""
    from ...plugin_api import PluginError, discover_plugins  # plugin discovery imports the plugins

    registry = registry or discover_plugins()
    problems = []
    for where, section in sections.items():
        is_source = where == "source"
        installed = sorted(registry.sources if is_source else registry.sinks)
        try:
            cls = registry.source(section.plugin) if is_source else registry.sink(section.plugin)
        except PluginError as exc:
            problems.append(f"{where}.plugin: {exc}{did_you_mean(section.plugin, installed)}")
            continue
        try:
            cls.Settings.model_validate(section.settings)
        except ValidationError as exc:
            problems += format_errors(exc.errors(), cls.Settings, (*_loc(where), "settings"), f"plugin {section.plugin!r}: ")
    return problems


def _loc(where: str) -> tuple[str | int, ...]:
    """"sinks[1]" -> ("sinks", 1); "source" -> ("source",)."""
    name, _, index = where.partition("[")
    return (name, int(index.rstrip("]"))) if index else (name,)


def raw_plugin_sections(data: dict[str, Any]) -> dict[str, PluginSection]:
    """The [source] / [sink] / [[sinks]] sections of raw profile data that parse on their own (for one full report)."""
    candidates: list[tuple[str, type[PluginSection], Any]] = [("source", SourceSection, data.get("source")),
                                                              ("sink", SinkSection, data.get("sink"))]
    sinks = data.get("sinks")
    if isinstance(sinks, list):
        candidates += [(f"sinks[{i}]", SinkSection, raw) for i, raw in enumerate(sinks)]
    sections: dict[str, PluginSection] = {}
    for where, section, raw in candidates:
        if raw is None:
            continue  # absent (the default is valid)
        try:
            sections[where] = section.model_validate(raw)
        except ValidationError:
            continue  # already reported by the schema
    return sections
