"""ProfileWatcher: a valid edit gives the new profile, an invalid one an error (the show keeps its
profile), no change gives nothing; diff_profiles says what a change means for the running show."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from live2diff_broadcast.config import Profile, ProfileError, load_profile
from live2diff_broadcast.config.reload import diff_profiles
from live2diff_broadcast.config.watch import ProfileWatcher
from live2diff_broadcast.plugin_api import PluginRegistry, discover_plugins

BASE = """
name = "show"
[engine]
device = "cpu"
width = 64
height = 64
[hotkeys]
rewarm = "ctrl+alt+r"
[[styles]]
name = "cartoon"
prompt = "a person"
prompt_template = "cartoon style, {}"
hotkey = "ctrl+alt+1"
[[styles]]
name = "zaum"
prompt = "a person"
strength = 0.4
[sink]
plugin = "file"
settings = { path = "out.mp4" }
"""


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return discover_plugins()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "show.toml"
    p.write_text(BASE, encoding="utf-8")
    return p


def _edit(path: Path, text: str) -> None:
    """Write new content and move the mtime on, as a save one second later would."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def _profile(text: str, tmp_path: Path) -> Profile:
    p = tmp_path / "other.toml"
    p.write_text(text, encoding="utf-8")
    return load_profile(p, check_plugins=False)


# --- the watcher ------------------------------------------------------------------------------------


def test_no_change_gives_nothing(path, registry):
    watcher = ProfileWatcher(path, registry=registry)
    assert watcher.poll() is None and watcher.poll() is None
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # touched, same bytes
    assert watcher.poll() is None


def test_valid_edit_gives_the_new_profile(path, registry):
    watcher = ProfileWatcher(path, registry=registry)
    old = watcher.current
    _edit(path, BASE.replace('prompt = "a person"\nprompt_template', 'prompt = "a dancer"\nprompt_template'))
    new = watcher.poll()
    assert isinstance(new, Profile) and new.style("cartoon").prompt == "a dancer"
    assert watcher.current is new
    assert watcher.poll() is None  # reported once
    changes = diff_profiles(old, new)
    assert changes.styles_prompt_changed == ("cartoon",) and changes.prompt_only and not changes.restart


def test_invalid_edit_gives_the_error_and_keeps_the_profile(path, registry):
    watcher = ProfileWatcher(path, registry=registry)
    running = watcher.current
    _edit(path, BASE.replace('hotkey = "ctrl+alt+1"', 'hotkey = "Ctrl+Alt+R"'))
    error = watcher.poll()
    assert isinstance(error, ProfileError)
    assert str(path) in str(error) and "hotkeys.rewarm: 'ctrl+alt+r' is already bound by styles[0].hotkey" in str(error)
    assert watcher.current is running
    assert watcher.poll() is None  # the same invalid content is reported once, not every poll
    _edit(path, BASE.replace("[sink]", "[sink]\nplugn = 1"))  # another invalid content: reported
    assert "sink.plugn: unknown key; did you mean 'plugin'?" in str(watcher.poll())
    _edit(path, BASE)  # fixed back: valid again, and nothing to apply
    fixed = watcher.poll()
    assert isinstance(fixed, Profile) and diff_profiles(running, fixed).empty


def test_half_written_and_deleted_files(path, registry):
    watcher = ProfileWatcher(path, registry=registry)
    running = watcher.current
    _edit(path, "")  # an editor that truncates first
    assert "empty profile" in str(watcher.poll())
    path.unlink()
    assert "no such profile file" in str(watcher.poll())
    assert watcher.poll() is None  # the missing file is reported once
    assert watcher.current is running
    path.write_text(BASE.replace('name = "show"', 'name = "show 2"'), encoding="utf-8")
    back = watcher.poll()
    assert isinstance(back, Profile) and back.name == "show 2"


def test_same_size_rewrite_within_the_same_mtime_is_seen(path, registry):
    watcher = ProfileWatcher(path, registry=registry)
    stamp = path.stat().st_mtime_ns
    path.write_text(BASE.replace("a person", "b person", 1), encoding="utf-8")  # same size
    os.utime(path, ns=(stamp, stamp))  # and the same mtime: only the content hash can tell
    new = watcher.poll()
    assert isinstance(new, Profile) and new.style("cartoon").prompt == "b person"


def test_environment_overrides_apply_on_reload(path, registry, monkeypatch):
    watcher = ProfileWatcher(path, registry=registry)
    monkeypatch.setenv("LIVE2DIFF_ENGINE__DEVICE", "cuda")
    _edit(path, BASE.replace("width = 64", "width = 128"))
    new = watcher.poll()
    assert isinstance(new, Profile) and new.engine.device == "cuda" and new.engine.width == 128


def test_an_invalid_file_at_start_raises(path, registry):
    path.write_text("[engine]\nwidht = 1\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="did you mean 'width'"):
        ProfileWatcher(path, registry=registry)


def test_watch_yields_changes_until_stopped(path, registry):
    watcher = ProfileWatcher(path, registry=registry)
    stop = threading.Event()
    _edit(path, BASE.replace('name = "show"', 'name = "renamed"'))
    results = []
    for result in watcher.watch(interval_s=0.01, stop=stop):
        results.append(result)
        stop.set()
    assert len(results) == 1 and isinstance(results[0], Profile) and results[0].name == "renamed"
