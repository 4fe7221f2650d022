"""Saving live edits into a profile file: only the edited keys change, every comment stays, the result
validates, and a save that cannot be made leaves the file exactly as it was."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from live2diff_broadcast.config import load_profile
from live2diff_broadcast.config.save import SaveError, save_edits

SHOW = """\
# My show: comments everywhere must survive a save.
name = "tuesday"   # the show's name

[models]
preset = "live2diff"   # real weights: a style's LoRAs would be refused under the tiny preset

[engine]
width = 64
height = 64

# --- styles ---
[[styles]]
name = "cartoon"   # on the Stream Deck's first key
prompt = "a person talking"   # what the scene is
strength = 0.4   # how far from the camera
seed = 7

[[styles.loras]]
path = "ink.safetensors"
weight = 0.5

[[styles]]
# the second look
name = "oil painting"
prompt = "an oil painting"
"""


def write(tmp_path: Path, text: str = SHOW) -> Path:
    path = tmp_path / "show.toml"
    path.write_text(text)
    return path


def test_only_edited_keys_change_and_every_comment_stays(tmp_path: Path) -> None:
    path = write(tmp_path)
    os.chmod(path, 0o640)
    seen: list[tuple[bytes, bytes]] = []

    @contextmanager
    def around(raw: bytes, profile: object) -> Iterator[None]:
        before = path.read_bytes()
        yield
        seen.append((before, raw))

    saved = save_edits(path, {"cartoon": {"prompt": 'a "fox"\nin snow', "t_index_list": (20, 35), "guidance": 1.5},
                              "oil painting": {"seed": 11}}, check_plugins=False, around_write=around)
    text = path.read_text()
    assert seen == [(SHOW.encode(), text.encode())] and saved.raw == text.encode()  # written inside the context
    for comment in ("# My show: comments everywhere must survive a save.", "# the show's name", "# --- styles ---",
                    "# on the Stream Deck's first key", "# what the scene is", "# the second look"):
        assert comment in text
    assert 'prompt = "a \\"fox\\"\\nin snow"   # what the scene is' in text  # the value's own comment kept
    assert "strength" not in text and "t_index_list = [20, 35]" in text  # alternatives: one replaces the other
    profile = load_profile(path, check_plugins=False)
    cartoon, oil = profile.style("cartoon"), profile.style("oil painting")
    assert (cartoon.prompt, cartoon.t_index_list, cartoon.guidance, cartoon.seed) == ('a "fox"\nin snow', [20, 35], 1.5, 7)
    assert cartoon.loras is not None and cartoon.loras[0].weight == 0.5  # the sub-table stays the style's
    assert oil.seed == 11 and saved.profile == profile
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["show.toml"]  # no temporary file left behind
    assert saved.lines == ("style 'cartoon': prompt = 'a \"fox\"\\nin snow', t_index_list = [20, 35], guidance = 1.5",
                           "style 'oil painting': seed = 11")


def test_inline_style_tables_are_edited_in_place(tmp_path: Path) -> None:
    path = write(tmp_path, 'styles = [{ name = "a", prompt = "x" }, { name = "b", prompt = "y" }]  # two looks\n')
    save_edits(path, {"b": {"prompt": "z", "seed": 4}}, check_plugins=False)
    assert path.read_text() == 'styles = [{ name = "a", prompt = "x" }, { name = "b", prompt = "z", seed = 4}]  # two looks\n'


def test_a_save_that_cannot_be_made_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path)
    before = path.read_bytes()
    with pytest.raises(SaveError, match="no \\[\\[styles\\]\\] entry named 'gone'"):
        save_edits(path, {"gone": {"seed": 1}}, check_plugins=False)
    with pytest.raises(SaveError, match="(?s)would not load with these edits.*styles\\[0\\].strength"):
        save_edits(path, {"cartoon": {"strength": 1.7}}, check_plugins=False)
    path.write_text(SHOW + "\n[broken\n")
    with pytest.raises(SaveError, match="cannot read the profile"):
        save_edits(path, {"cartoon": {"seed": 1}}, check_plugins=False)
    path.write_bytes(before)
    with pytest.raises(SaveError, match="no live edits"):
        save_edits(path, {}, check_plugins=False)
    assert path.read_bytes() == before


def test_a_symlinked_profile_is_written_through_to_its_target(tmp_path: Path) -> None:
    real = write(tmp_path)
    (tmp_path / "shows").mkdir()
    link = tmp_path / "shows" / "current.toml"
    link.symlink_to(real)
    save_edits(link, {"cartoon": {"seed": 99}}, check_plugins=False)
    assert link.is_symlink() and load_profile(real, check_plugins=False).style("cartoon").seed == 99
