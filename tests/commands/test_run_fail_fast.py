"""``run`` fails fast on what cannot recover, and keeps trying what may come back.

A file source or model file that cannot be opened at start: exit 2 naming the file and why, the
output untouched; ``check`` says the same. A camera that is not there yet: NO SIGNAL while it
keeps retrying (or exit 2 when the profile says so). --duration <= 0 and --fps 0 are refused by
the argument parser, before anything is opened.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from live2diff_broadcast.cli import main
from live2diff_broadcast.weights.requirements import DPT_FILES, SD15_FILES, TAESD_FILES
from tests.commands.test_check import _folder, _offline_hub  # noqa: F401 - the fixture: an empty, offline hub


def _profile(tmp_path: Path, source: str, extra: str = "", out: str = "out.avi") -> Path:
    path = tmp_path / "show.toml"
    path.write_text(f"""
name = "fail-fast"
{extra}
[engine]
device = "cpu"
width = 64
height = 64
{source}
[sink]
plugin = "file"
settings = {{ path = "{tmp_path / out}" }}
""", encoding="utf-8")
    return path


def _file_source(path: Path) -> str:
    return f'[source]\nplugin = "file"\nsettings = {{ path = "{path}" }}'


@pytest.mark.parametrize(("make", "why"), [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    (lambda p: p.write_bytes(b"\x00garbage, not a video" * 100), "OpenCV"),
    (lambda p: p.mkdir(), "is not a file"),
])
def test_a_file_source_that_cannot_be_opened_stops_the_start_naming_it(tmp_path, caplog, make, why) -> None:  # type: ignore[no-untyped-def]
    video = tmp_path / "clip.mp4"
    make(video)
    profile = _profile(tmp_path, _file_source(video))
    started = time.monotonic()
    assert main(["run", "--profile", str(profile), "--duration", "30", "--no-control-server"]) == 2
    assert time.monotonic() - started < 30  # no reconnect loop: it fails before the engine starts
    assert str(video) in caplog.text and why in caplog.text
    assert not (tmp_path / "out.avi").exists()  # nothing opened, nothing overwritten


def test_check_names_the_source_file_that_cannot_be_opened(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    profile = _profile(tmp_path, _file_source(tmp_path / "nope.mp4"))
    assert main(["check", str(profile)]) == 2
    out = capsys.readouterr().out
    assert "source: the source cannot be opened" in out and "nope.mp4' does not exist" in out


def test_check_accepts_a_file_source_that_decodes(tmp_path) -> None:
    video = tmp_path / "ok.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64))
    for i in range(15):
        writer.write(np.full((64, 64, 3), i * 10, np.uint8))
    writer.release()
    assert main(["check", str(_profile(tmp_path, _file_source(video)))]) == 0


@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_duration_and_fps_that_are_not_positive_are_refused_before_anything_opens(tmp_path, capsys, value) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.avi"
    out.write_bytes(b"yesterday's recording")
    profile = _profile(tmp_path, '[source]\nplugin = "test_pattern"')
    for option in ("--duration", "--fps"):
        with pytest.raises(SystemExit) as exited:
            main(["run", "--profile", str(profile), option, value])
        assert exited.value.code == 2
        assert f"argument {option}" in capsys.readouterr().err
    assert out.read_bytes() == b"yesterday's recording"


def test_a_camera_that_is_not_there_is_retried_with_no_signal(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    camera = '[source]\nplugin = "camera"\nsettings = { device = 9, open_timeout_s = 1.0 }'
    profile = _profile(tmp_path, camera)
    assert main(["run", "--profile", str(profile), "--duration", "3", "--passthrough-model", "--no-control-server",
                 "--no-hotkeys", "--no-terminal-keys"]) == 0
    assert "NO SIGNAL while it keeps trying" in caplog.text
    assert (tmp_path / "out.avi").exists()


def test_the_profile_can_make_a_missing_camera_an_error(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    camera = ('[source]\nplugin = "camera"\non_open_failure = "exit"\n'
              'settings = { device = 9, open_timeout_s = 1.0 }')
    assert main(["run", "--profile", str(_profile(tmp_path, camera)), "--duration", "30", "--no-control-server"]) == 2
    assert "the source cannot be opened" in caplog.text and "camera" in caplog.text


def _real_models(tmp_path: Path, depth: str) -> str:
    m = tmp_path / "models"
    base, vae = _folder(m / "sd15", SD15_FILES), _folder(m / "taesd", TAESD_FILES)
    _folder(m / "dpt", DPT_FILES)
    (m / "live2diff.safetensors").write_bytes(b"x")
    return (f'[models]\npreset = "live2diff"\nauto_download = false\nbase = "{base}"\nvae = "{vae}"\n'
            f'depth = "{depth}"\nlive2diff = "{m / "live2diff.safetensors"}"\nlcm_lora = "none"\n')


def test_model_files_that_are_not_there_stop_the_start_naming_them(tmp_path, caplog, capsys) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "models" / "no_such_dpt"
    profile = _profile(tmp_path, '[source]\nplugin = "test_pattern"', _real_models(tmp_path, str(missing)))
    assert main(["run", "--profile", str(profile), "--duration", "30", "--no-control-server"]) == 2
    assert "models.depth" in caplog.text and str(missing) in caplog.text and "not found" in caplog.text
    assert not (tmp_path / "out.avi").exists()
    assert main(["check", str(profile)]) == 1  # check lists it, and says run will refuse
    out = capsys.readouterr().out
    assert str(missing) in out and "`run` refuses to start until they are there" in out


def test_model_files_that_cannot_be_read_stop_the_show_instead_of_a_restart_loop(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Present (so the start-up check passes) but not readable as weights: the engine reports a fatal load
    error once, and the show stops with exit 2 instead of restarting the engine forever."""
    profile = _profile(tmp_path, '[source]\nplugin = "test_pattern"',
                       _real_models(tmp_path, str(tmp_path / "models" / "dpt")))
    started = time.monotonic()
    assert main(["run", "--profile", str(profile), "--duration", "300", "--no-control-server", "--no-hotkeys",
                 "--no-terminal-keys"]) == 2
    assert time.monotonic() - started < 240
    assert "could not load its models" in caplog.text
    assert "restarting the engine process" not in caplog.text
