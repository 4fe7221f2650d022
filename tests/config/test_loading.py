"""Profiles are read only from regular files under a size cap (issue 18.5: `check /dev/zero` read 3 GB in 20 s):
devices, pipes, directories and huge files are refused before reading, naming the file, through the real CLI."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.config import ProfileError, load_profile
from live2diff_broadcast.config.schema.loading import MAX_PROFILE_BYTES


def _refused(path: Path, says: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(err.value).startswith(str(path)) and says in str(err.value), err.value


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_check_and_run_refuse_a_device(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    assert main(["check", "/dev/zero"]) == 2
    assert "/dev/zero: is a character device; expected a TOML profile file" in capsys.readouterr().out
    assert main(["run", "--profile", "/dev/zero", "--duration", "1"]) == 2
    assert "/dev/zero: is a character device" in caplog.text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "show.toml"
    os.mkfifo(fifo)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(_message(fifo)), daemon=True)
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "opening the pipe waited for a writer"
    assert errors == [f"{fifo}: is a pipe (FIFO); expected a TOML profile file (a regular file)"]


def _message(path: Path) -> str:
    try:
        load_profile(path)
    except ProfileError as exc:
        return str(exc)
    return "read"


def test_a_huge_file_and_a_directory_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(3 * 1024**3)  # 3 GB, sparse: refused from its size, never read
    _refused(big, "3221.2 MB, over the 1024 KiB limit")
    _refused(tmp_path, "is a directory")
    _refused(tmp_path / "missing.toml", "no such profile file")


def test_a_profile_at_the_limit_still_loads(tmp_path: Path) -> None:
    head = '[[styles]]\nname = "a"\nprompt = "'
    tail = '"\n'
    path = tmp_path / "show.toml"
    path.write_text(head + "x" * (MAX_PROFILE_BYTES - len(head) - len(tail)) + tail, encoding="utf-8")
    assert path.stat().st_size == MAX_PROFILE_BYTES
    assert len(load_profile(path, check_plugins=False).styles[0].prompt) > 1_000_000
