"""Discovery through real entry points, isolation of a broken plugin, settings validation."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from importlib.metadata import entry_points as real_entry_points

import pytest

from live2diff_broadcast import plugin_api
from live2diff_broadcast.plugin_api import SINK_GROUP, SOURCE_GROUP, PluginError, discover_plugins

BUILTIN_SOURCES = {"test_pattern", "file", "camera", "ndi"}
BUILTIN_SINKS = {"virtualcam", "ndi", "file", "preview"}


def test_discovery_finds_every_builtin_through_entry_points() -> None:
    registry = discover_plugins()
    assert BUILTIN_SOURCES <= set(registry.sources)
    assert BUILTIN_SINKS <= set(registry.sinks)
    assert not registry.failures
    for cls in [*registry.sources.values(), *registry.sinks.values()]:
        assert cls.description, f"{cls.__name__} has no description"
    assert registry.source("ndi") is not registry.sink("ndi")


def _with_extra(monkeypatch: pytest.MonkeyPatch, extra: list[EntryPoint]) -> None:
    """Make plugin_api see the installed entry points plus ``extra``."""

    def fake_entry_points(*, group: str):  # type: ignore[no-untyped-def]
        return [*real_entry_points(group=group), *(ep for ep in extra if ep.group == group)]

    monkeypatch.setattr(plugin_api, "entry_points", fake_entry_points)


def test_broken_plugin_is_reported_by_name_and_the_others_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken_cam", value="no_such_module_xyz:Cam", group=SOURCE_GROUP)
    not_a_source = EntryPoint(name="wrong_type", value="os.path:join", group=SINK_GROUP)
    _with_extra(monkeypatch, [broken, not_a_source])

    registry = discover_plugins()

    assert "ModuleNotFoundError" in registry.failures[f"{SOURCE_GROUP}:broken_cam"]
    assert "not a Sink subclass" in registry.failures[f"{SINK_GROUP}:wrong_type"]
    assert BUILTIN_SOURCES <= set(registry.sources) and BUILTIN_SINKS <= set(registry.sinks)
    with pytest.raises(PluginError, match="broken_cam.*failed to load.*no_such_module_xyz"):
        registry.source("broken_cam")
    with pytest.raises(PluginError, match="no source plugin named 'wrong_type'"):
        registry.source("wrong_type")  # the failure was a sink's, not a source's


def test_unknown_plugin_lists_installed() -> None:
    with pytest.raises(PluginError, match="installed: .*test_pattern"):
        discover_plugins().source("nope")


@pytest.mark.parametrize(
    ("group", "name", "settings", "field"),
    [
        ("source", "test_pattern", {"fps": 0}, "fps"),
        ("source", "test_pattern", {"colour": "red"}, "colour"),
        ("source", "file", {}, "path"),
        ("source", "camera", {"api": "quicktime"}, "api"),
        ("source", "ndi", {"source": "x", "connect_timeout_s": -1}, "connect_timeout_s"),
        ("sink", "virtualcam", {"pixel_format": "YUV9"}, "pixel_format"),
        ("sink", "ndi", {"width": 3}, "width"),
        ("sink", "file", {"path": "out.mp4", "fourcc": "toolong"}, "fourcc"),
        ("sink", "preview", {"height": "tall"}, "height"),
    ],
)
def test_invalid_settings_are_rejected_naming_plugin_and_field(group: str, name: str, settings: dict, field: str) -> None:
    registry = discover_plugins()
    cls = registry.source(name) if group == "source" else registry.sink(name)
    with pytest.raises(PluginError) as info:
        cls.create(settings)
    assert f"plugin {name!r}" in str(info.value)
    assert f"{field}:" in str(info.value)


def test_close_is_idempotent_for_every_builtin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = discover_plugins()
    required = {
        ("source", "file"): {"path": str(tmp_path / "x.mp4")},
        ("source", "ndi"): {"source": "nothing"},
        ("sink", "file"): {"path": str(tmp_path / "x.mp4")},
    }
    for kind, table, builtin in (("source", registry.sources, BUILTIN_SOURCES), ("sink", registry.sinks, BUILTIN_SINKS)):
        for name in builtin:
            plugin = table[name].create(required.get((kind, name), {}))
            plugin.close("test")
            plugin.close("again")  # no error, nothing released twice
