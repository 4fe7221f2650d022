"""[source] / [sink]: a plugin name and its settings, checked against the plugin's declared Settings."""

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


OpenFailure = Literal["auto", "exit", "retry"]


class SourceSection(PluginSection):
    # A source that cannot be opened when the show starts: "exit" (run stops with error 2, naming it and why),
    # "retry" (NO SIGNAL while it keeps trying, with backoff); "auto": the plugin's own choice (Source.retry_open:
    # a file exits, cameras, NDI and the test pattern retry). A source lost later is always reconnected.
    on_open_failure: OpenFailure = "auto"


def plugin_problems(sections: Mapping[str, PluginSection], registry: PluginRegistry | None = None) -> list[str]:
    """For {"source": ..., "sink": ...}: the plugins not installed, or their settings invalid, one line each."""
    from ...plugin_api import PluginError, discover_plugins  # plugin discovery imports the plugins

    registry = registry or discover_plugins()
    problems = []
    for kind, section in sections.items():
        installed = sorted(registry.sources if kind == "source" else registry.sinks)
        try:
            cls = registry.source(section.plugin) if kind == "source" else registry.sink(section.plugin)
        except PluginError as exc:
            problems.append(f"{kind}.plugin: {exc}{did_you_mean(section.plugin, installed)}")
            continue
        try:
            cls.Settings.model_validate(section.settings)
        except ValidationError as exc:
            problems += format_errors(exc.errors(), cls.Settings, (kind, "settings"), f"plugin {section.plugin!r}: ")
    return problems




def raw_plugin_sections(data: dict[str, Any]) -> dict[str, PluginSection]:
    """The [source] / [sink] sections of raw profile data that parse on their own (for one full report)."""
    sections = {}
    for kind, section in (("source", SourceSection), ("sink", PluginSection)):
        try:
            sections[kind] = section.model_validate(data[kind])
        except (KeyError, ValidationError):
            continue  # absent (the default is valid) or already reported by the schema
    return sections
