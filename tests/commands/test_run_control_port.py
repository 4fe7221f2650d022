"""`run` with its control port taken by another program: one clear error naming the port and the
profile field, and the show keeps running (frames reach the sink)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from live2diff_broadcast.cli import main
from tests.videos import count_frames


def test_port_in_use_degrades_controls_not_the_show(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    out = tmp_path / "out.avi"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        profile = tmp_path / "show.toml"
        profile.write_text(f"""
[engine]
device = "cpu"
width = 64
height = 64
[control]
port = {port}
[source]
plugin = "test_pattern"
settings = {{ width = 96, height = 64, fps = 30 }}
[sink]
plugin = "file"
settings = {{ path = "{out}" }}
""", encoding="utf-8")
        with caplog.at_level(logging.INFO):
            assert main(["run", "--profile", str(profile), "--duration", "3", "--passthrough-model",
                         "--no-hotkeys", "--no-terminal-keys", "--no-watch"]) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert f"127.0.0.1:{port}" in errors[0] and "control.port" in errors[0] and "show goes on" in errors[0]
    count, _ = count_frames(out)
    assert count > 10
