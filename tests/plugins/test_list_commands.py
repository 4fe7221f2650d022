"""The `plugins` and `devices` commands, run through the CLI entry function."""

from __future__ import annotations

import uuid
from importlib.metadata import EntryPoint
from importlib.metadata import entry_points as real_entry_points

import numpy as np
import pytest

from live2diff_broadcast import plugin_api
from live2diff_broadcast.cli import main
from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import SOURCE_GROUP


def test_plugins_lists_builtins_with_descriptions_and_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--settings"]) == 0
    out = capsys.readouterr().out
    for name in ("test_pattern", "camera", "virtualcam", "preview"):
        assert f"  {name} " in out
    assert "connect_timeout_s = 5.0" in out
    assert "Failed to load" not in out


def test_plugins_reports_a_broken_plugin_and_exits_nonzero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint(name="broken_cam", value="no_such_module_xyz:Cam", group=SOURCE_GROUP)
    monkeypatch.setattr(
        plugin_api, "entry_points", lambda *, group: [*real_entry_points(group=group), *([broken] if group == SOURCE_GROUP else [])]
    )
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert f"{SOURCE_GROUP}:broken_cam: ModuleNotFoundError" in out
    assert "  test_pattern " in out


def test_devices_lists_an_ndi_sender_found_through_extra_ips(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("NDIlib")
    from plugins.ndi_sink import NdiSink

    name = f"l2d-devices-{uuid.uuid4().hex[:8]}"
    sink = NdiSink.create({"name": name})
    sink.open(32, 32, 30.0)
    sink.write(Frame(np.zeros((32, 32, 3), np.uint8), pts_ns=0, seq=0))
    try:
        code = main(["devices", "--extra-ips", "127.0.0.1", "--timeout", "1", "--max-index", "1"])
    finally:
        sink.close()
    out = capsys.readouterr().out
    assert code == 0
    assert f"({name})" in out and '"extra_ips": "127.0.0.1"' in out


def test_devices_rejects_an_unknown_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--source", "nope", "--timeout", "0.1"]) == 2
