"""[sink] / [[sinks]]: one output or several; the old single table keeps working; never both; errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from live2diff_broadcast.config import Profile, ProfileError, load_profile
from live2diff_broadcast.config.reload import plan_reload
from live2diff_broadcast.plugin_api import PluginRegistry, discover_plugins

STYLE = '[[styles]]\nname = "a"\nprompt = "b"\n'
CAMERA_AND_RECORDING = STYLE + '''
[[sinks]]
plugin = "virtualcam"
settings = { backend = "v4l2loopback" }

[[sinks]]
plugin = "file"
name = "recording"
settings = { path = "show.mp4" }
'''


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return discover_plugins()


def load(tmp_path: Path, text: str, registry: PluginRegistry) -> Profile:
    path = tmp_path / "show.toml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path, registry)


def error(tmp_path: Path, text: str, registry: PluginRegistry) -> str:
    with pytest.raises(ProfileError) as err:
        load(tmp_path, text, registry)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "show.toml")), message  # every error names the file
    return message


def test_a_sinks_list_gives_every_sink_in_order_with_its_field_path_and_label(tmp_path, registry) -> None:
    profile = load(tmp_path, CAMERA_AND_RECORDING, registry)
    sections = profile.sink_sections()
    assert [where for where, _ in sections] == ["sinks[0]", "sinks[1]"]
    assert [s.plugin for _, s in sections] == ["virtualcam", "file"]
    assert [s.label(where) for where, s in sections] == ["sinks[0] virtualcam", "sinks[1] file 'recording'"]
    assert profile.sink is None
    assert Profile(**profile.model_dump()).sink_sections() == sections  # the engine's copy of the profile


def test_the_single_sink_table_works_as_before(tmp_path, registry) -> None:
    profile = load(tmp_path, STYLE + '[sink]\nplugin = "file"\nsettings = { path = "x.mp4" }\n', registry)
    assert profile.sink is not None and profile.sink.settings == {"path": "x.mp4"}
    assert [(where, s.plugin) for where, s in profile.sink_sections()] == [("sink", "file")]
    assert profile.sinks is None


def test_no_sink_at_all_is_the_file_sink(tmp_path, registry) -> None:
    for profile in (Profile(), load(tmp_path, STYLE, registry)):
        assert [(where, s.plugin, s.settings) for where, s in profile.sink_sections()] == [
            ("sink", "file", {"path": "live2diff_out.mp4"})]
        assert Profile(**profile.model_dump()).sink_sections() == profile.sink_sections()


def test_both_sink_and_sinks_is_an_error_naming_the_file_and_both_keys(tmp_path, registry) -> None:
    message = error(tmp_path, CAMERA_AND_RECORDING + '[sink]\nplugin = "file"\nsettings = { path = "x.mp4" }\n', registry)
    assert "sink, sinks: a profile has either one [sink] table or a [[sinks]] list, not both" in message


def test_an_empty_sinks_list_is_an_error(tmp_path, registry) -> None:
    assert "sinks: an empty list; expected at least one [[sinks]] table" in error(tmp_path, "sinks = []\n" + STYLE, registry)


def test_errors_name_the_sink_by_its_index(tmp_path, registry) -> None:
    text = STYLE + '''
[[sinks]]
plugin = "file"
settings = { path = "a.mp4" }

[[sinks]]
plugin = "ndy"

[[sinks]]
plugin = "file"
settings = { pth = "b.mp4" }

[[sinks]]
plugin = "ndi"
colour = "red"
'''
    message = error(tmp_path, text, registry)
    assert "sinks[1].plugin: no sink plugin named 'ndy'" in message and "did you mean 'ndi'?" in message
    assert "sinks[2].settings.pth: plugin 'file': unknown key; did you mean 'path'?" in message
    assert "sinks[2].settings.path: plugin 'file': required field is missing" in message
    assert "sinks[3].colour: unknown key" in message
    assert "sinks[0]" not in message


def test_a_sink_without_a_plugin_names_the_field(tmp_path, registry) -> None:
    assert "sinks[2].plugin: required field is missing" in error(tmp_path, CAMERA_AND_RECORDING + '[[sinks]]\nname = "x"\n',
                                                                 registry)


def test_two_sinks_with_one_name_are_refused(tmp_path, registry) -> None:
    text = STYLE + '[[sinks]]\nplugin = "ndi"\nname = "out"\n[[sinks]]\nplugin = "file"\nname = "out"\nsettings = { path = "a.mp4" }\n'
    assert "sinks[1].name: 'out' is already the name of sinks[0]" in error(tmp_path, text, registry)


def test_a_sinks_edit_waits_for_the_next_start(tmp_path, registry) -> None:
    old = load(tmp_path, CAMERA_AND_RECORDING, registry)
    new = load(tmp_path, CAMERA_AND_RECORDING.replace("show.mp4", "other.mp4"), registry)
    plan = plan_reload(old, new)
    assert any("[[sinks]] changes apply at the next start" in line for line in plan.lines)
    assert plan.profile.sink_sections() == old.sink_sections()  # the running sinks stay as they started
    single = load(tmp_path, STYLE + '[sink]\nplugin = "file"\nsettings = { path = "x.mp4" }\n', registry)
    plan = plan_reload(single, old)  # [sink] -> [[sinks]]: also at the next start, and still one or the other
    assert plan.profile.sink_sections() == single.sink_sections() and plan.profile.sinks is None


def test_two_sinks_writing_the_same_output_are_refused(tmp_path, registry) -> None:
    text = STYLE + ('[[sinks]]\nplugin = "file"\nsettings = { path = "a.mp4" }\n' * 2)
    assert "sinks[1]: the same plugin and settings as sinks[0]" in error(tmp_path, text, registry)
