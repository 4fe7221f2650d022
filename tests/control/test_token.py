"""control/token.py: where the per-run token lives, with which rights, and how it is compared."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from live2diff_broadcast.control.token import (
    TOKEN_ENV,
    new_token,
    read_token,
    remove_token,
    same_token,
    token_dir,
    token_path,
    write_token,
)

POSIX_RIGHTS = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def test_the_token_lives_in_xdg_runtime_dir_else_in_the_home_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert token_path(7878) == tmp_path / "live2diff" / "control-7878.token"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert token_dir() == home / ".cache" / "live2diff"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "not-there"))
    assert token_dir() == home / ".cache" / "live2diff"


@POSIX_RIGHTS
def test_written_user_only_even_over_wider_leftovers_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.cache yet: its parents are made too
    token = new_token()
    path = write_token(token, 7878)
    assert path == tmp_path / "home" / ".cache" / "live2diff" / "control-7878.token"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == token.encode() + b"\n" and read_token(7878) == token
    os.chmod(path.parent, 0o755)  # an older folder and file with wider rights are narrowed
    os.chmod(path, 0o644)
    second = new_token()
    assert write_token(second, 7878) == path and read_token(7878) == second
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv(TOKEN_ENV, " from-env ")
    assert read_token(7878) == "from-env"  # the environment wins
    monkeypatch.delenv(TOKEN_ENV)
    remove_token(path)
    assert not path.exists() and read_token(7878) is None
    remove_token(path)  # gone already: nothing to say


def test_a_token_file_that_cannot_be_removed_is_named_in_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stuck = tmp_path / "control-1.token"
    stuck.mkdir()  # a folder where the file should be: unlink fails
    with caplog.at_level(logging.WARNING, logger="live2diff_broadcast.control.token"):
        remove_token(stuck)
    assert f"could not remove the control token file {stuck}: " in caplog.text


def test_tokens_compare_in_constant_time_and_never_raise() -> None:
    token = new_token()
    assert len(token) == 64 and not token.startswith("-") and int(token, 16) >= 0
    assert same_token(token, token) and not same_token(token[:-1] + "x", token)
    assert not same_token(None, token) and not same_token("", token)
    assert not same_token("\udcff" + token[1:], token)  # not encodable as UTF-8: replaced, not an error
