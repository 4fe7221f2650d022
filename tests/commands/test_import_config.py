"""``live2diff-broadcast import-config``: a profile that loads, or exit 2 with the file and key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.config import load_profile
from tests.config.test_authors_import import checkout  # noqa: F401  (the fixture)


def test_writes_a_profile_that_loads(checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.chdir(checkout)  # their scripts run from the checkout; so does --root's default
    out = tmp_path / "felted.toml"
    assert main(["import-config", "configs/kFelted.yaml", "--name", "felted", "--prompt", "a streamer", "-o", str(out)]) == 0
    profile = load_profile(out)
    style = profile.style("felted")
    assert style.prompt == "a streamer" and style.prompt_template == "masterpiece, best quality, felted, {},"
    assert profile.stream_config(style).clip_skip == 3 and style.t_index_list == [25, 34, 43]
    assert profile.models.preset == "live2diff" and profile.engine.depth_normalise == "warmup_joint"
    text = out.read_text(encoding="utf-8")
    assert "# imported by live2diff-broadcast import-config from configs/kFelted.yaml" in text
    assert "third_party_dict.clip_skip 2 -> styles.clip_skip 3" in text


def test_prints_the_style_entry(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["import-config", str(checkout / "configs/origami.yaml"), "--root", str(checkout), "--style-only"]) == 0
    out = capsys.readouterr().out
    assert out.count("[[styles]]") == 1 and "\n[models]" not in out and 't_index_list = [30, 36, 42]' in out


def test_bad_config_exits_2_naming_the_key(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    path = checkout / "configs/toonyou.yaml"
    path.write_text(path.read_text().replace("clip_skip: 2", "clip_skip: 40"), encoding="utf-8")
    assert main(["import-config", str(path), "--root", str(checkout)]) == 2
    err = capsys.readouterr().err
    assert "toonyou.yaml: third_party_dict.clip_skip: 40 is outside the text encoder's 12 layers" in err
